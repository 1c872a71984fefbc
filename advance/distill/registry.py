"""The distillation methods by their ``--kd`` names: a :class:`~utils.registry.Registry` of classes.

A method registers itself with ``@register_distiller("name")`` on a :class:`~advance.distill.methods.Method`
subclass; ``python -m pipeline list distillers -v`` lists them with their default weight and temperature.
"""
from utils.registry import Registry

DISTILLERS = Registry("distillation method")


def register_distiller(name):
    """Class decorator: register a method under its ``--kd`` name (also kept on the class as its name)."""
    def wrap(cls):
        cls.registered_name = name
        return DISTILLERS.register(name)(cls)
    return wrap
