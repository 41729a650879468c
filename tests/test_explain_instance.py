"""--explain on an instance model: refused in one line through the task door (scoring/task.py),
before anything is written."""
import pytest

from edgeseg.config import CompressConfig, PreprocessSpec
from edgeseg.errors import UsageError
from edgeseg.scoring.task import task_for

INSTANCE_SPEC = PreprocessSpec(32, 32, task="instance", instance_channels=2, decode={"foreground": 0.5, "seed": 0.5})


def test_the_task_door_refuses_explain_for_instance_models_only():
    with pytest.raises(UsageError, match="--explain is not available for instance models") as refused:
        task_for(INSTANCE_SPEC).check_options(CompressConfig(explain=True))
    assert "\n" not in str(refused.value) and "without --explain" in str(refused.value)
    task_for(INSTANCE_SPEC).check_options(CompressConfig())
    task_for(PreprocessSpec(32, 32)).check_options(CompressConfig(explain=True))


@pytest.mark.slow
def test_compress_explain_on_an_instance_model_writes_nothing(instance_model, tmp_path):
    from edgeseg.compress.pipeline import compress
    from edgeseg.config import DataConfig

    out = tmp_path / "out"
    with pytest.raises(UsageError, match="--explain is not available for instance models"):
        compress(instance_model, CompressConfig(data=DataConfig(synthetic_train=8, synthetic_val=4), explain=True,
                                                verbose=0), out)
    assert not out.exists()
