"""The run's plots: every title names the dataset and the run date; the feature profile is one
heatmap that fits a screen, coloured by z-score and annotated with means in original units."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from PIL import Image

from segmentation.customers.config import CustomerConfig
from segmentation.customers.outputs import customer_figures
from segmentation.kselect import KSelection
from segmentation.meters.outputs import meter_figures, profiles_table
from segmentation.meters.segment import BANDS
from segmentation.plots import HEATMAP_MAX_FEATURES, plot_profile_heatmap
from segmentation.publish import save_figure
from segmentation.report import format_compact

SCREEN = (1400, 800)     # pixels: the heatmap must fit a laptop screen without scrolling
# The 17 clustering columns of CC_GENERAL.csv, as the pipeline names them.
CC_COLUMNS = ["balance", "balance_frequency", "purchases", "oneoff_purchases",
              "installments_purchases", "cash_advance", "purchases_frequency",
              "oneoff_purchases_frequency", "purchases_installments_frequency",
              "cash_advance_frequency", "cash_advance_trx", "purchases_trx", "credit_limit",
              "payments", "minimum_payments", "prc_full_payment", "tenure"]


def selection(k: int = 3) -> KSelection:
    metrics = pd.DataFrame({"k": [2, 3, 4], "feasible": [True, True, True],
                            "inertia": [30.0, 20.0, 15.0], "silhouette": [0.3, 0.35, 0.2],
                            "davies_bouldin": [1.2, 1.0, 1.4], "stability": [0.9, 0.85, 0.6]})
    return KSelection(k=k, rule="most stable", knee=3, metrics=metrics)


def customer_tables(n: int = 90, columns=("age", "annual_income_k", "spending_score")):
    """Members of three segments and their profiles, as the pipeline hands them to the plots."""
    rng = np.random.default_rng(3)
    ids = np.repeat([0, 1, 2], n // 3)
    segments = pd.DataFrame(rng.lognormal(3, 0.8, size=(n, len(columns))) * (ids[:, None] + 1),
                            columns=list(columns)).assign(segment_id=ids)
    means = segments.groupby("segment_id")[list(columns)].mean().reset_index()
    profiles = means.assign(segment_name=["Budget Buyers", "Mid-Range Customers", "High Spenders"],
                            size=n // 3, share=1 / 3)
    return segments, profiles


def meter_tables(n: int = 30):
    """Members of three archetypes and their profiles (``profiles_table``, as the run makes them)."""
    rng = np.random.default_rng(4)
    ids = np.repeat([0, 1, 2], n // 3)
    curves = rng.dirichlet(np.ones(24), size=n)
    months = np.full((n, 12), np.nan)
    months[:, 9:12] = rng.uniform(0.8, 1.2, size=(n, 3))       # seven weeks of autumn
    segments = pd.DataFrame({
        "segment_id": ids, "segment_name": np.array(["Night Users", "Evening Peakers",
                                                     "Day Users"])[ids],
        "is_atypical": False, "mean_daily_kwh": rng.lognormal(3, 0.5, n),
        "winter_summer_ratio": np.nan, "peak_hour": rng.integers(0, 24, n).astype(float),
        "consumption_band": np.array(BANDS)[np.arange(n) % 3], "seasonal_user": False,
        "profile": list(curves), "monthly_index": list(months)})
    return segments, profiles_table(segments)


def main_title(fig: plt.Figure) -> str:
    """The figure's title: its suptitle, or its first panel's title."""
    return fig._suptitle.get_text() if fig._suptitle is not None else fig.axes[0].get_title()


@pytest.mark.parametrize("dataset, run_date", [("customers", "2024-05-01"), ("cc_general", "2026-11-30")])
def test_every_customer_plot_title_names_the_dataset_and_run_date(dataset, run_date):
    segments, profiles = customer_tables()
    config = CustomerConfig(id_column="customer_id",
                            features=("age", "annual_income_k", "spending_score"))
    figures = customer_figures(segments, profiles, selection(), config, dataset=dataset,
                               run_date=pd.Timestamp(run_date).date())
    assert set(figures) == {"k_selection", "segment_scatter", "segment_sizes", "feature_profile"}
    for name, fig in figures.items():
        assert main_title(fig).startswith(f"{dataset} \u2014 {run_date}: "), name
        plt.close(fig)


def test_every_meter_plot_title_names_the_dataset_and_run_date():
    segments, profiles = meter_tables()
    band_rule = {"low_below_kwh_per_day": 15.0, "high_from_kwh_per_day": 30.0}
    figures = meter_figures(segments, profiles, selection(), band_rule, dataset="swiss",
                            run_date=pd.Timestamp("2024-05-01").date())
    assert set(figures) == {"archetypes", "seasonal_heatmap", "k_selection", "segment_sizes",
                            "daily_kwh"}
    for name, fig in figures.items():
        assert main_title(fig).startswith("swiss \u2014 2024-05-01: "), name
        plt.close(fig)


def cc_like(segments: int, columns: list[str], seed: int = 0):
    rng = np.random.default_rng(seed)
    population = pd.DataFrame(rng.lognormal(5, 2, size=(2000, len(columns))), columns=columns)
    means = pd.DataFrame(rng.lognormal(5, 2, size=(segments, len(columns))), columns=columns)
    names = [f"High {c.replace('_', ' ').title()} / Low Purchases Installments Frequency"
             for c in columns[:segments]]
    return means, population, names


@pytest.mark.parametrize("segments", [2, 5, 10])
def test_the_feature_heatmap_of_a_17_column_table_fits_a_screen(tmp_path, segments):
    means, population, names = cc_like(segments, CC_COLUMNS)
    fig = plot_profile_heatmap(means, population, names,
                               {c: c.replace("_", " ").title() for c in CC_COLUMNS},
                               "cc_general", "2024-05-01", members="customers")
    width, height = Image.open(save_figure(fig, tmp_path / "feature_profile.png")).size
    assert width <= SCREEN[0] and height <= SCREEN[1], (width, height)
    assert width >= 900 and height >= 350          # ... and is not shrunk to a thumbnail


def test_the_heatmap_cells_are_z_coloured_centred_at_zero_and_show_means_in_original_units():
    columns = ["balance", "purchases", "tenure"]
    population = pd.DataFrame({"balance": [0.0, 1000.0, 2000.0, 5000.0],
                               "purchases": [10.0, 20.0, 30.0, 40.0],
                               "tenure": [12.0, 12.0, 12.0, 12.0]})
    means = pd.DataFrame({"balance": [2385.6, 500.0], "purchases": [40.0, 12.5],
                          "tenure": [12.0, 12.0]})
    fig = plot_profile_heatmap(means, population, ["Big Balances", "Small Spenders"],
                               {c: c for c in columns}, "cc", "2024-05-01")
    ax = fig.axes[0]
    image = ax.get_images()[0]
    z = (means - population.mean()) / population.std(ddof=0).replace(0, 1)
    np.testing.assert_allclose(image.get_array().filled(np.nan), z.to_numpy())
    assert image.norm.vmin == -image.norm.vmax > -3.0      # diverging, centred at 0
    assert image.get_cmap().name == "RdBu_r"
    cells = [t.get_text() for t in ax.texts]
    assert cells == ["2.4k", "40", "12", "500", "12.5", "12"]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["Big Balances", "Small Spenders"]
    assert [t.get_text() for t in ax.get_xticklabels()] == columns
    plt.close(fig)


def test_a_wide_table_shows_its_most_distinctive_features_and_says_so(tmp_path):
    columns = [f"spend_{i}" for i in range(40)]
    means, population, names = cc_like(4, columns, seed=1)
    z = (means - population.mean()) / population.std(ddof=0)
    strongest = set(z.abs().max().sort_values(ascending=False).index[:HEATMAP_MAX_FEATURES])
    fig = plot_profile_heatmap(means, population, names, {c: c for c in columns}, "wide",
                               "2024-05-01")
    shown = [t.get_text() for t in fig.axes[0].get_xticklabels()]
    assert len(shown) == HEATMAP_MAX_FEATURES == 25 and set(shown) == strongest
    assert shown == [c for c in columns if c in strongest]             # in the table's order
    assert main_title(fig) == ("wide \u2014 2024-05-01: segment feature profile, the 25 most "
                               "distinctive of 40 features")
    width, height = Image.open(save_figure(fig, tmp_path / "wide.png")).size
    assert width <= SCREEN[0] and height <= SCREEN[1]
    fits = plot_profile_heatmap(means[columns[:25]], population, names, {c: c for c in columns},
                                "wide", "2024-05-01")
    assert main_title(fits) == "wide \u2014 2024-05-01: segment feature profile"
    plt.close(fits)


def test_the_customer_feature_profile_is_the_heatmap_of_every_numeric_column():
    segments, profiles = customer_tables()
    config = CustomerConfig(id_column="customer_id", features=("annual_income_k", "spending_score"),
                            roles={"age": "age"})
    fig = customer_figures(segments, profiles, selection(), config, dataset="mall",
                           run_date="2024-05-01")["feature_profile"]
    ax = fig.axes[0]
    assert [t.get_text().replace("\n", " ") for t in ax.get_xticklabels()] == [
        "Annual income (k$)", "Spending score (1-100)", "Age (years)"]      # wrapped, not rotated
    assert {t.get_rotation() for t in ax.get_xticklabels()} == {0}
    assert [t.get_text() for t in ax.texts] == [
        format_compact(v) for v in profiles[["annual_income_k", "spending_score", "age"]]
        .to_numpy().ravel()]
    assert len(ax.get_images()) == 1 and not ax.patches        # a heatmap, not bars
    plt.close(fig)
