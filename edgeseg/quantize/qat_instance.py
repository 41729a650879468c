"""Quantization-aware training of instance models: tfmot's QAT wrappers fine-tuned with the
instance loss on targets made from the (augmented) label maps, as training does. The last
rung of the instance remedy ladder; the guard judges the converted model by PQ, so no early
stop by Dice here (Dice cannot see merged objects)."""
from __future__ import annotations

import math
from functools import partial

from ..backend import keras
from ..data.instance_data import InstanceData
from ..training.finetune import FinetuneBudget
from .qat import qat_copy


def instance_quantization_aware(model, train: InstanceData, budget: FinetuneBudget, batch_size: int,
                                seed: int = 0, verbose: int = 1, log=print, preserve_sparsity: bool = False):
    """A QAT copy of `model` fine-tuned for budget.max_steps steps; convert it with the int8 converter.
    A magnitude-pruned model (`preserve_sparsity`) gets pruning-preserving QAT, so its zeros stay."""
    from ..training.instance import target_batch
    from ..training.loop import batch_sequence
    from ..training.losses_instance import instance_loss

    qat_model = qat_copy(model, preserve_sparsity)
    qat_model.compile(optimizer=keras().optimizers.Adam(budget.learning_rate), loss=instance_loss())
    batches = batch_sequence(train, batch_size, True, seed, targets=partial(target_batch, boundary=train.boundary))
    per_epoch = min(len(batches), budget.max_steps)
    epochs = math.ceil(budget.max_steps / per_epoch)
    if verbose:
        log(f"      quantization-aware training: {epochs * per_epoch} steps with the instance loss")
    history = qat_model.fit(batches, epochs=epochs, steps_per_epoch=per_epoch, verbose=0)
    if verbose:
        log(f"      final training loss {history.history['loss'][-1]:.4f}")
    return qat_model
