"""config/message_templates.yaml, loaded once per Runtime with the shared YAML loader (errors
name file:line:field) and kept in `runtime.extras`."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from alerts.templates import TemplateFile
from emergency.configfiles import load_yaml

FILE = "message_templates.yaml"
_KEY = "message_templates"
_LOCK = threading.Lock()


def load_templates(path: str | Path) -> TemplateFile:
    return load_yaml(path, TemplateFile)


def templates(runtime: Any) -> TemplateFile:
    """The runtime's templates (an empty set when the config folder has no template file)."""
    found = runtime.extras.get(_KEY)
    if found is None:
        with _LOCK:
            found = runtime.extras.get(_KEY)
            if found is None:
                path = runtime.settings.config_dir / FILE
                found = load_templates(path) if path.exists() else TemplateFile(templates={})
                runtime.extras[_KEY] = found
    return found
