"""Install the pinned vega bundles and write the offline ``dvc plots show`` template.

Run by ``make`` (set-up); see forgeseg.pipeline.plots_offline for why.
"""

from forgeseg.core.logs import run_main
from forgeseg.pipeline.plots_offline import ensure_template

if __name__ == "__main__":
    run_main(ensure_template)
