"""Customer tables (the Mall Customers table, or any table described by a CustomerConfig)."""
