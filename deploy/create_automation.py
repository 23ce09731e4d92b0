"""Create (or replace) the failure automation kept in deploy/automations/.

The webhook's URL is configuration, not code: it comes from
SEGMENT_FAILURE_WEBHOOK_URL and is stored in the Webhook block
``segment-failure-webhook`` (which can also be edited on the UI's Blocks
page). Without the variable, an existing block is kept; with neither, no
automation is created and this says so.

Run against the server named by PREFECT_API_URL (deploy/server.sh sets it):
    python deploy/create_automation.py [automation.yaml ...]
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import yaml
from prefect.automations import Automation
from prefect.blocks.webhook import Webhook
from prefect.client.orchestration import get_client

BLOCK_NAME = "segment-failure-webhook"
URL_VARIABLE = "SEGMENT_FAILURE_WEBHOOK_URL"
DEFAULT_SPECS = sorted((Path(__file__).parent / "automations").glob("*.yaml"))


def webhook_block_id() -> str | None:
    """Id of the webhook block, (re)written from the environment when the URL is set."""
    url = os.environ.get(URL_VARIABLE, "").strip()
    if url:
        block = Webhook(method="POST", url=url, headers={"Content-Type": "application/json"})
        return str(block.save(BLOCK_NAME, overwrite=True))
    try:
        return str(Webhook.load(BLOCK_NAME)._block_document_id)
    except ValueError:  # no such block yet
        return None


def create(spec_path: Path, block_id: str) -> Automation:
    spec = yaml.safe_load(spec_path.read_text(encoding="utf-8"))
    for action in spec["actions"]:
        if action["type"] in ("call-webhook", "send-notification"):
            action["block_document_id"] = block_id
    automation = Automation.model_validate(spec)
    # Replace rather than duplicate: `make server` runs this on every start.
    with get_client(sync_client=True) as client:
        for existing in client.read_automations_by_name(automation.name):
            client.delete_automation(existing.id)
    return automation.create()


def main(paths: list[str]) -> int:
    specs = [Path(p) for p in paths] or DEFAULT_SPECS
    block_id = webhook_block_id()
    if block_id is None:
        print(f"{URL_VARIABLE} is not set and there is no '{BLOCK_NAME}' block: "
              "failure automation NOT created. Set the variable and run `make server` again.")
        return 0
    for spec in specs:
        automation = create(spec, block_id)
        print(f"automation '{automation.name}' ({automation.id}) -> webhook block {BLOCK_NAME}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
