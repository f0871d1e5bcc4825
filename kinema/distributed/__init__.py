"""Training and generation across the ranks of a torchrun launch, with PyTorch's own engine.

runtime     joining the launch: process group, this rank's device, rank-0 helpers
mesh        how a stage's ranks divide the work: data-parallel groups × sequence shards
parallelize activation checkpointing, torch.compile and FSDP2 sharding of an unmodified model
sequence    Ulysses sequence parallelism for the diffusion transformer's self-attention
checkpoint  training state in torch.distributed.checkpoint format, resharded on load
trainer     the shared training loop (kinema.train.stage) run by every rank
train       both stages of a run on the ranks of a launch
launch      `kinema train --nproc N`: start torchrun on this machine

Nothing here is imported by the model files: models expose hooks (`split_sequence`,
`SelfAttention.attention`) and this package plugs into them.
"""
