"""Overrides that shrink a training run to two optimizer steps on CPU (tests only)."""

TINY_FIT = [
    "trainer.max_epochs=1",
    "trainer.limit_train_batches=2",
    "trainer.limit_val_batches=1",
    "trainer.num_sanity_val_steps=0",
    "data.batch_size=4",
    "data.num_workers=0",
    "inference.limit_batches=1",
]
