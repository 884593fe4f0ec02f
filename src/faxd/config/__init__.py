"""Configuration: the YAML file into typed settings, every problem with its line, and the
checks on the machine itself. `faxd.config.load` is the entry point the rest of faxd uses."""

from faxd.config.command_programs import check_programs
from faxd.config.load import (
    DEFAULT_PATH,
    DEFAULT_STATE_DIR,
    check_environment,
    config_path,
    load,
    render_effective,
)
from faxd.config.service_user import (
    SERVICE_USER,
    ServiceUserCheck,
    check_service_user,
    chosen_user,
)
from faxd.config.unit_paths import check_unit_paths, unit_sandbox

__all__ = [
    "DEFAULT_PATH",
    "DEFAULT_STATE_DIR",
    "SERVICE_USER",
    "ServiceUserCheck",
    "check_environment",
    "check_programs",
    "check_service_user",
    "check_unit_paths",
    "chosen_user",
    "config_path",
    "load",
    "render_effective",
    "unit_sandbox",
]
