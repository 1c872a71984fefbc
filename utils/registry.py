"""The one registry mechanism: a named table of choices (models, encoders, losses, datasets, optimizers,
schedulers, perturbations, blend modes, run modes, ...).

A :class:`Registry` maps a name to an entry (a builder, a class, a record). Registering a name twice is an
error; looking up an unknown name raises :class:`~utils.errors.ConfigError` naming the valid choices and, when
one is close, the likely intended one ("did you mean 'unet'?")::

    LOSSES = Registry("loss")

    @LOSSES.register("dice")
    def dice_loss(weights=None): ...

    LOSSES.get("dcie")   # ConfigError: unknown loss 'dcie' (did you mean 'dice'?); valid names: bce, ce, ...

A registry made with ``record=`` (a dataclass whose first two fields are the name and the registered object)
stores records: ``ENCODERS.register("resnet50", imagenet="resnet50")`` on a builder stores
``EncoderInfo("resnet50", builder, imagenet="resnet50", description=<first docstring line>)``.

The command line's choices, the shell scripts (``python -m pipeline list KIND``), the tests and the benchmarks
all read the registries, so each list of names is kept in one place.
"""
import dataclasses
import difflib

from utils.errors import ConfigError


def first_doc_line(obj):
    """The first line of ``obj``'s docstring ('' without one)."""
    return ((getattr(obj, "__doc__", None) or "").strip().splitlines() or [""])[0]


class Registry:
    """Name -> entry, in registration order; ``kind`` names the choices in messages ("model", "loss", ...)."""

    def __init__(self, kind, record=None):
        self.kind = kind
        self.record = record
        self._entries = {}

    # --------------------------------------------------------------------------------------- registration
    def add(self, name, entry):
        """Register ``entry`` under ``name``; a second registration of a name raises ValueError."""
        if not isinstance(name, str) or not name:
            raise ValueError(f"a {self.kind} name must be a non-empty string, got {name!r}")
        if name in self._entries:
            raise ValueError(f"{self.kind} {name!r} is registered twice")
        self._entries[name] = entry
        return entry

    def register(self, name, **fields):
        """Decorator form of :meth:`add`: ``@REGISTRY.register("name")`` registers the decorated object itself,
        or, for a registry with a ``record`` type, ``record(name, obj, **fields)`` (a ``description`` left out
        is the first line of the object's docstring)."""
        def wrap(obj):
            entry = obj
            if self.record is not None:
                names = {f.name for f in dataclasses.fields(self.record)}
                if "description" in names and not fields.get("description"):
                    fields["description"] = first_doc_line(obj)
                entry = self.record(name, obj, **fields)
            elif fields:
                raise TypeError(f"the {self.kind} registry stores objects, not records: no fields {sorted(fields)}")
            self.add(name, entry)
            return obj
        return wrap

    # --------------------------------------------------------------------------------------- lookup
    def get(self, name, flag=None):
        """The entry of ``name``; a :class:`ConfigError` listing the valid names (``flag``, e.g. ``"--loss"``,
        is named in the message) when it is unknown."""
        try:
            return self._entries[name]
        except (KeyError, TypeError):
            raise ConfigError(self.unknown(name, flag)) from None

    def unknown(self, name, flag=None):
        """The message for an unknown ``name``: the closest valid name, then all of them."""
        where = f" ({flag})" if flag else ""
        close = difflib.get_close_matches(str(name), list(self._entries), n=1, cutoff=0.6)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        return f"unknown {self.kind} {name!r}{where}{hint}; valid names: {', '.join(self.names())}"

    def names(self, sort=True):
        """Registered names, sorted (``sort=False``: in registration order)."""
        return sorted(self._entries) if sort else list(self._entries)

    def items(self):
        """``(name, entry)`` pairs in registration order."""
        return list(self._entries.items())

    def parse_list(self, spec, flag=None, everything="all"):
        """``"a,b"`` -> ``["a", "b"]`` in the given order (duplicates dropped); ``"all"`` -> every name in
        registration order; ``""``/None -> ``[]``; an unknown name raises :class:`ConfigError`."""
        if not spec:
            return []
        names = list(dict.fromkeys(s.strip() for s in str(spec).split(",") if s.strip()))
        if everything in names:
            return self.names(sort=False)
        for n in names:
            self.get(n, flag)
        return names

    def __getitem__(self, name):
        return self.get(name)

    def __contains__(self, name):
        return name in self._entries

    def __iter__(self):
        return iter(self.names())

    def __len__(self):
        return len(self._entries)

    def __repr__(self):
        return f"Registry({self.kind!r}: {', '.join(self.names(sort=False))})"
