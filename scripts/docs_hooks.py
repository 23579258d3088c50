"""MkDocs hook: generate the API reference pages from gentf's top-level namespace.

Each page under ``docs/api/`` holds a marker ``<!-- gentf-api: AREA -->``; this hook replaces it
with one mkdocstrings block (``::: path``) per public name of ``gentf`` that belongs to AREA,
decided by the module that defines it. A name no area claims goes to the ``other`` page, so
every public name is documented even as the API grows. Distributions and other public
*instances* (``normal``, ``EmptySelection``) are documented through their class, under their
public name.

``on_config`` also lets griffe (mkdocstrings' static reader) load ``gentf/core`` and
``gentf/modeling``, which have no ``__init__.py``.
"""
import inspect
import os
import re
import types

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

# area -> module prefixes (first match wins, in this order)
AREAS = [
    ("distributions", ("gentf.modeling.distribution",)),
    ("modeling", ("gentf.modeling",)),
    ("choicemaps", ("gentf.core.choicemap", "gentf.core.address")),
    ("gfi", ("gentf.core",)),
    ("tf", ("gentf.tf",)),
    ("learning", ("gentf.learning",)),
    ("inference", ("gentf.inference",)),
    ("combinators", ("gentf.combinators",)),
]
MARKER = re.compile(r"<!--\s*gentf-api:\s*([a-z]+)\s*-->")
_entries = None


def public_names(module):
    """``__all__`` if the package defines it, else every non-underscore attribute."""
    names = getattr(module, "__all__", None)
    if names is None:
        names = [n for n in dir(module) if not n.startswith("_")]
    return list(names)


def _defining(obj):
    """(object whose docstring documents the name, its module)."""
    if isinstance(obj, (types.FunctionType, type, types.BuiltinFunctionType)):
        return obj, getattr(obj, "__module__", "") or ""
    return type(obj), type(obj).__module__


def _line(obj):
    try:
        return inspect.getsourcelines(obj)[1]
    except (OSError, TypeError):
        return 0


def api_entries():
    """``{area: [(name, mkdocstrings path, heading or None), ...]}`` sorted by source order."""
    global _entries
    if _entries is not None:
        return _entries
    import warnings
    with warnings.catch_warnings():    # TFP's import-time distutils DeprecationWarning
        warnings.simplefilter("ignore", DeprecationWarning)
        import gentf
    found = {area: [] for area, _ in AREAS}
    found["other"] = []
    for name in public_names(gentf):
        obj = getattr(gentf, name)
        if isinstance(obj, types.ModuleType):
            if name == "testing":   # explicitly exported subpackage
                found["other"].append(((obj.__name__, 0), name, obj.__name__, None))
            continue
        documented, module = _defining(obj)
        area = next((a for a, prefixes in AREAS if module.startswith(prefixes)), "other")
        if module.startswith("gentf") and (documented is obj or documented.__doc__):
            # the defining module's path: ``gentf.mh`` as an alias would resolve to the
            # *module* gentf.inference.mh, which the function shadows only at run time; a
            # public instance (``normal``) is documented by its class under its public name
            path, heading = f"{module}.{documented.__qualname__}", name
        else:
            path, heading = f"gentf.{name}", None
        found[area].append(((module, _line(documented)), name, path, heading))
    _entries = {a: [e[1:] for e in sorted(v, key=lambda e: e[0])] for a, v in found.items()}
    return _entries


def render(area):
    entries = api_entries().get(area, [])
    if not entries:
        return "*(No public names in this area.)*\n"
    blocks = []
    for name, path, heading in entries:
        block = f"::: {path}\n"
        if heading:
            block += f"    options:\n      heading: \"{heading}\"\n      toc_label: \"{heading}\"\n"
        blocks.append(block)
    return "\n".join(blocks)


def _load_implicit_namespace_subpackages():
    """Let griffe load ``gentf.core`` and ``gentf.modeling``, folders without ``__init__.py``.

    griffe (1.x/2.x) skips a folder without ``__init__.py`` inside a regular package (it takes
    such folders for scripts); Python imports them as implicit namespace packages. For gentf's
    own modules we create the missing parent as a namespace subpackage, exactly as griffe does
    inside namespace packages. (Pinned griffe version: see the ``docs`` extra.)
    """
    from griffe._internal.loader import GriffeLoader

    original = GriffeLoader._get_or_create_parent_module
    if getattr(original, "_gentf_patch", False):
        return

    def get_or_create_parent_module(self, module, subparts, subpath):
        if module.path == "gentf":
            parents = list(subpath.parents)
            if subpath.stem == "__init__":
                parents.pop(0)
            parent = module
            for offset, part in enumerate(subparts[:-1], 2):
                if part not in parent.members:
                    parent.set_member(part, self._create_module(part, [parents[len(subparts) - offset]]))
                parent = parent.get_member(part)
            return parent
        return original(self, module, subparts, subpath)

    get_or_create_parent_module._gentf_patch = True
    GriffeLoader._get_or_create_parent_module = get_or_create_parent_module


def on_config(config, **kwargs):
    _load_implicit_namespace_subpackages()
    return config


def on_page_markdown(markdown, page, config, files, **kwargs):
    return MARKER.sub(lambda m: render(m.group(1)), markdown)
