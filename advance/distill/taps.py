"""Feature taps: the outputs of named submodules of any network, read during its ordinary forward pass.

A :class:`FeatureTaps` puts a forward hook on each named submodule (``model.named_modules()`` names: ``down4``,
``stage3``, ``down1.1``, ...) and keeps what that submodule returned on the last call (the first element
when it returns a tuple or list). It serves two readers:

* distillation (``--kd-layers``): the whole forward pass runs and both networks' taps are read afterwards;
* contrastive pretraining (``run_ssl.py --layer``, :class:`advance.ssl.HiddenLayer`): ``stop=True`` ends the
  forward pass as soon as every tapped submodule has produced its output, so later layers are not computed.

A network wrapped by the spatial transformer (``--stn``) is tapped inside: ``down4`` names ``convnet.down4``.

:func:`encoder_stages` finds the default taps of a network from one probe pass: for every resolution its
maps pass through on the way down, the last top-level submodule (or child of a top-level container that is not
called itself, such as a ``ModuleList``) that outputs a map of that resolution, up to the first one that
reaches the coarsest resolution (the bottleneck); a submodule called more than once (a shared pooling layer)
is no stage. For ``unet`` that is ``inc, down1 .. down4``; for ``u2netp`` ``stage1 .. stage6``; for
``attunet`` ``encoders.0 .. encoders.4``; for ``unext`` ``ebn1, ebn2, ebn3, decoder1``; for ``lightnet``
``embed``.
"""
from dataclasses import dataclass

import jittor as jt

from utils.errors import ConfigError

__all__ = ["FeatureTaps", "Stage", "encoder_stages", "find_modules", "layer_names", "network_of"]


def network_of(model):
    """The segmentation network itself: the one inside a spatial-transformer wrapper, else ``model``."""
    inner = getattr(model, "convnet", None)
    return inner if isinstance(inner, jt.nn.Module) else model


def layer_names(model):
    """Every named submodule (dotted paths for nested ones)."""
    return [name for name, _ in model.named_modules() if name]


def find_modules(model, names, flag="--kd-layers"):
    """``{name: submodule}`` of ``model`` (inside a spatial-transformer wrapper: ``down4`` is
    ``convnet.down4``); a :class:`ConfigError` listing the valid top-level names for a name that is none."""
    modules = dict(model.named_modules())
    net = network_of(model)
    inner = "convnet." if net is not model else ""
    found = {}
    for name in names:
        module = modules.get(name) if name else None
        if module is None and inner:
            module = modules.get(inner + name)
        if module is None:
            top = [n for n in layer_names(net) if "." not in n]
            raise ConfigError(f"{flag} {name!r} is not a submodule of {type(net).__name__}; valid names: "
                              f"{', '.join(top)} (or a dotted path inside one of them, e.g. {top[-1]}.0)")
        found[name] = module
    return found


class _Reached(Exception):
    """Raised by a hook to end the forward pass once every tapped submodule has produced its output."""


def _first_map(output):
    return output[0] if isinstance(output, (list, tuple)) and output else output


class FeatureTaps:
    """Forward hooks on the submodules ``names`` of ``model`` (see the module docstring).

    ``flag`` names the option in messages (``--kd-layers``, ``--layer``). A name that is not a submodule is a
    :class:`ConfigError` listing the valid top-level names. Jittor allows one forward hook per module, so a
    submodule already hooked by someone else is refused rather than silently taken over; tap a network once,
    with every name its readers need.
    """

    def __init__(self, model, names, flag="--kd-layers", stop=False):
        self.model, self.flag, self.stop = model, flag, stop
        self.names = list(dict.fromkeys(names))
        self.modules = find_modules(model, self.names, flag)
        for name, module in self.modules.items():
            if hasattr(module, "__fhook__"):
                raise ConfigError(f"{flag} {name!r}: that submodule of {type(model).__name__} is already tapped")
        self.outputs = {}
        for name, module in self.modules.items():
            module.register_forward_hook(self._hook(name))

    def _hook(self, name):
        def hook(module, inputs, output):
            self.outputs[name] = _first_map(output)
            if self.stop and len(self.outputs) == len(self.names):
                raise _Reached()
        return hook

    def __call__(self, x):
        """Run the network on ``x`` and return ``{name: feature map}`` (the network's output is dropped)."""
        self.outputs = {}
        try:
            self.model(x)
        except _Reached:
            pass
        return self.take()

    def take(self):
        """``{name: N x C x H x W map}`` of the last forward pass (then forgotten); a :class:`ConfigError` for a
        submodule the pass never called or one whose output is not a feature map."""
        found, self.outputs = self.outputs, {}
        net = type(network_of(self.model)).__name__
        for name in self.names:
            if name not in found:
                raise ConfigError(f"{self.flag} {name!r} is never called by {net}'s forward pass; "
                                  "choose a layer the network uses")
            out = found[name]
            if not isinstance(out, jt.Var) or out.ndim != 4:
                raise ConfigError(f"{self.flag} {name!r} does not output a feature map (N x C x H x W); "
                                  "choose a convolutional block")
        return {name: found[name] for name in self.names}

    def remove(self):
        for module in self.modules.values():
            module.remove_forward_hook()


@dataclass(frozen=True)
class Stage:
    """One default tap: a top-level submodule, its output channels and its stride (input side / map side)."""
    name: str
    channels: int
    stride: int


def encoder_stages(model, example):
    """The default taps of ``model`` (see the module docstring), from one forward pass on ``example`` (a batch
    that suits the network) in eval mode without gradients; [] when no top-level submodule outputs a map."""
    net = network_of(model)
    calls, called = [], set()
    # top-level submodules, and the children of containers that are never called themselves (a ModuleList)
    candidates = [(name, m) for name, m in net.named_modules() if name and name.count(".") <= 1]
    hooked = []
    for name, module in candidates:
        if hasattr(module, "__fhook__"):
            continue  # tapped by someone else: not a candidate

        def hook(module, inputs, output, name=name):
            called.add(name)
            out = _first_map(output)
            if isinstance(out, jt.Var) and out.ndim == 4:
                calls.append((name, int(out.shape[1]), int(out.shape[2])))
        module.register_forward_hook(hook)
        hooked.append(module)
    was_training = net.is_training()
    net.eval()
    try:
        with jt.no_grad():
            net(example)
    finally:
        for module in hooked:
            module.remove_forward_hook()
        if was_training:
            net.train()
    calls = [c for c in calls if "." not in c[0] or c[0].split(".")[0] not in called]
    shared = {name for name, *_ in calls if sum(1 for n, *_ in calls if n == name) > 1}
    calls = [c for c in calls if c[0] not in shared]  # a module called twice (a shared pooling) is no stage
    if not calls:
        return []
    side = int(example.shape[2])
    coarsest = min(h for _, _, h in calls)
    end = next(i for i, (_, _, h) in enumerate(calls) if h == coarsest)
    last = {}
    for name, channels, h in calls[:end + 1]:
        last[h] = Stage(name, channels, max(1, round(side / h)))
    return [last[h] for h in sorted(last, reverse=True)]
