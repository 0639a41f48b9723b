"""YAML that remembers where things are: every mapping and list loaded from a suite knows its
line, so an error can say `suite.yaml:14: case 3: ...`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from unyo._types._errors import BadInput


class Map(dict[str, Any]):
    line: int = 0


class Seq(list[Any]):
    line: int = 0


def _loader() -> type:
    import yaml

    class Loader(yaml.SafeLoader):
        pass

    def mapping(loader: Any, node: Any) -> Map:
        loader.flatten_mapping(node)
        out = Map()
        for key_node, value_node in node.value:
            key = loader.construct_object(key_node, deep=True)
            if not isinstance(key, (str, int, float, bool)):
                raise BadInput(f"line {key_node.start_mark.line + 1}: a key must be text, got {key!r}")
            out[str(key)] = loader.construct_object(value_node, deep=True)
        out.line = node.start_mark.line + 1
        return out

    def sequence(loader: Any, node: Any) -> Seq:
        out = Seq(loader.construct_object(child, deep=True) for child in node.value)
        out.line = node.start_mark.line + 1
        return out

    Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, mapping)
    Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, sequence)
    return Loader


def load(path: Path) -> Any:
    """The YAML document in `path`; BadInput naming the file and line when it is malformed."""
    import yaml

    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise BadInput(f"{path}: cannot be read ({exc.strerror})") from None
    except UnicodeDecodeError:
        raise BadInput(f"{path}: not UTF-8 text") from None
    try:
        return yaml.load(text, Loader=_loader())  # noqa: S506 - a SafeLoader subclass
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        raise BadInput(f"{where}: malformed YAML ({exc.problem or exc.context})") from None
    except yaml.YAMLError as exc:
        raise BadInput(f"{path}: malformed YAML ({exc})") from None
    except BadInput as exc:
        raise BadInput(f"{path}: {exc}") from None


def line_of(node: Any, default: int = 0) -> int:
    return int(getattr(node, "line", default) or default)
