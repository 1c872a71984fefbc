"""Encoders shared by several networks (HarDNet-68, ResNet, VGG, ...), one implementation each."""
