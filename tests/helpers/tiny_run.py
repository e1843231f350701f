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

# timm's 0.4 M-parameter ``test_resnet`` at 32 px, for runs whose assertions do not depend on the
# network (signals, folders, carbon data, schedules): its steps and ~4.5 MB checkpoints cost a
# small fraction of DenseNet-121's (7 M parameters, ~84 MB checkpoints with the optimizer state).
SMALL_NET = [
    "model=densenet",
    "model.name=test_resnet",
    "model.display_name=test_resnet",
    "model.image_size=32",
]
