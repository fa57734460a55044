"""`gitops-agent setup`: what a root operator needs on a host, one module a piece —
where things go (paths), writing each item or saying it is unchanged (changes), the
agent config (config_file), the deploy key (deploy_key), pinned host keys (known_hosts),
the systemd units (units), the access check (access) and removal (uninstall)."""
