"""Walking parameter trees: a single array, or lists, tuples and dicts of them (nested).

The optimizers' state mirrors the parameters' structure with one dict per array, so the state is
walked *up to* the parameters' structure: where params has a leaf, the state holds that leaf's
dict and the gradients hold an array or None.
"""

from __future__ import annotations


def _is_container(node) -> bool:
    return isinstance(node, (list, tuple, dict))


def _children(node):
    if isinstance(node, dict):
        return list(node.items())
    return list(enumerate(node))


def leaves(tree, root: str = "params"):
    """[(path, leaf)] in a fixed order; path names the leaf for error messages."""
    out = []

    def walk(node, path):
        if _is_container(node):
            for key, child in _children(node):
                walk(child, f"{path}[{key!r}]")
        else:
            out.append((path, node))

    walk(tree, root)
    return out


def leaves_like(structure, tree, name: str):
    """The nodes of `tree` at the leaf positions of `structure`; ValueError where they differ."""
    out = []

    def walk(shape_node, node, path):
        if not _is_container(shape_node):
            out.append(node)
            return
        if type(node) is not type(shape_node) and not (
            isinstance(node, (list, tuple)) and isinstance(shape_node, (list, tuple))
        ):
            raise ValueError(
                f"{name}{path} is a {type(node).__name__} but params{path} is a "
                f"{type(shape_node).__name__}: {name} must have the structure of params"
            )
        if isinstance(shape_node, dict):
            if set(node) != set(shape_node):
                raise ValueError(
                    f"{name}{path} has keys {sorted(map(str, node))} but params{path} has "
                    f"{sorted(map(str, shape_node))}"
                )
            for key in shape_node:
                walk(shape_node[key], node[key], f"{path}[{key!r}]")
        else:
            if len(node) != len(shape_node):
                raise ValueError(
                    f"{name}{path} has {len(node)} entries but params{path} has {len(shape_node)}"
                )
            for i, (a, b) in enumerate(zip(shape_node, node)):
                walk(a, b, f"{path}[{i!r}]")

    walk(structure, tree, "")
    return out


def rebuild(structure, new_leaves):
    """A tree shaped like `structure` whose leaves are taken in order from `new_leaves`."""
    it = iter(new_leaves)

    def build(node):
        if isinstance(node, dict):
            return {key: build(child) for key, child in node.items()}
        if isinstance(node, list):
            return [build(child) for child in node]
        if isinstance(node, tuple):
            built = [build(child) for child in node]
            return type(node)(*built) if hasattr(node, "_fields") else type(node)(built)  # namedtuple
        return next(it)

    return build(structure)
