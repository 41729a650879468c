"""The sanity checks moved to edgeseg.scoring.sanity (below bench and search, which judge by them
too); this name stays for code that imported them from compress."""
from ..scoring.sanity import (BaselineCheck, check_agreement, check_baseline, check_instance_agreement,  # noqa: F401
                              prediction_problems, scores_agree, skipped)
