"""Campaign roll-up: one Provider SCI (GSF SCI for AI) over every run of a model's development.

SCI for AI puts training in the Provider boundary and counts the whole development:
completed, interrupted, failed and resumed runs. This package reads the run folders of a
campaign (run folders and sweep folders, searched recursively), counts each measured part
of a job once, and divides the total by the functional units of the final model.

- ``rollup``: :class:`CampaignRun`, :class:`Campaign`, :func:`build_campaign` (pure logic,
  no Hydra, no Lightning) and :func:`campaign_line` (the last line of a sweep's comparison).
- ``output``: :func:`write_campaign`: ``campaign.json``, ``campaign.md`` (the SCI-for-AI
  disclosure) and ``campaign_impact.yml`` (an Impact Framework manifest reproducing the total).
- ``__main__``: ``python -m sci_lightning.campaign DIR [DIR ...] [--final RUN_DIR] [--out DIR]``.

Example::

    from sci_lightning.campaign import build_campaign, write_campaign

    campaign = build_campaign(["multirun/2026-12-02/10-00-00", "outputs/runs/retry"])
    print(campaign.carbon_g, campaign.sci, campaign.sci_unit)
    write_campaign(campaign, "campaign-out")
"""

from sci_lightning.campaign.output import write_campaign
from sci_lightning.campaign.rollup import Campaign, CampaignRun, build_campaign, campaign_line

__all__ = ["Campaign", "CampaignRun", "build_campaign", "campaign_line", "write_campaign"]
