"""The SAS framework: spatial transformer, self-supervised pretraining and augmentation."""
