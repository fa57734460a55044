"""Agent config, app files: load and validate at the boundary; typed objects past it."""

from gitops_agent.config.agent import (
    DEFAULT_CONFIG_PATH,
    NOTIFY_EVENTS,
    SCHEMA_CACHE,
    AgentConfig,
    NotifyTarget,
    RepoConfig,
    RunnerConfig,
    StatusConfig,
    config_path,
    default_state_dir,
    load_agent_config,
)
from gitops_agent.config.apps import (
    APP_NAME,
    App,
    AppSet,
    Health,
    Source,
    app_files,
    dependency_problems,
    load_app,
    load_apps,
    repo_file_problem,
    selects,
)

__all__ = [
    "APP_NAME", "DEFAULT_CONFIG_PATH", "NOTIFY_EVENTS", "SCHEMA_CACHE", "AgentConfig",
    "App", "AppSet", "Health", "NotifyTarget", "RepoConfig", "RunnerConfig", "Source",
    "StatusConfig", "app_files",
    "config_path", "default_state_dir", "dependency_problems", "load_agent_config",
    "load_app", "load_apps", "repo_file_problem", "selects",
]
