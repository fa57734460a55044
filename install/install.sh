#!/usr/bin/env bash
# Install gitops-agent on a Debian or Ubuntu host, as root: a venv with a
# pinned version of the agent, its config, an SSH deploy key, the git host's
# pinned key and the systemd units.  Safe to run again; --help for the flags.
set -Eeuo pipefail
shopt -u patsub_replacement 2>/dev/null || true   # bash 5.2: "&" in ${x//p/r}

readonly PROG=install.sh
script_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
readonly script_dir

# Paths on the installed system (units and config refer to these); with
# --root DIR everything is written under DIR instead.
readonly VENV=/opt/gitops-agent
readonly CONFIG_DIR=/etc/gitops-agent
readonly STATE_DIR=/var/lib/gitops-agent
readonly UNIT_DIR=/etc/systemd/system
readonly COMMAND_LINK=/usr/local/bin/gitops-agent   # -> $VENV/bin/gitops-agent
readonly DAEMON_UNITS=(gitops-agent.service)
readonly TIMER_UNITS=(gitops-agent-run.service gitops-agent-run.timer)
readonly STAMP=.gitops-agent-install   # in the venv: what was installed there

usage() {
  cat <<'EOF'
Usage: install.sh [OPTIONS]
       install.sh --uninstall [--purge] [--root DIR]

Install gitops-agent on this Debian/Ubuntu host (run as root): a venv in
/opt/gitops-agent with a pinned version of the agent, /etc/gitops-agent/
config.yml (0600, never overwritten), an SSH deploy key, the git host's
pinned host key, and the systemd units.  Running it again changes only what
differs: it upgrades the agent and rewrites the units, and keeps the config,
the key and the pinned host keys.  Missing python3-venv, git and
openssh-client are installed with apt-get.

What to install:
  --source DIR          install from this source tree, at the version in its
                        pyproject.toml (default: the tree holding this script)
  --version X           install gitops-agent==X from PyPI instead
  --python PATH         Python >= 3.11 for the venv (default /usr/bin/python3)
  --mode daemon|timer   daemon: gitops-agent.service, `gitops-agent watch`
                        under Type=notify; timer: gitops-agent-run.service
                        (oneshot `gitops-agent run`) + gitops-agent-run.timer.
                        Default: the mode installed already, else daemon.
                        Switching modes removes the other mode's units.

The agent config (used only when config.yml does not exist yet):
  --config-url URL      the config repo (config_repo.url)
  --branch NAME         its branch (config_repo.branch, default main)
  --host-name NAME      this host's name (host.name; default: the agent uses
                        the short hostname)
  --status-url URL      push the status report to this repo instead of the
                        config repo (status.url)

SSH:
  --git-host HOST[:PORT]  pin this git host's key in /etc/gitops-agent/
                        known_hosts with ssh-keyscan (default: the host of
                        config_repo.url when that is an ssh URL); compare
                        the fingerprints it prints with your git host's
  --known-hosts-file FILE  add the keys of this known_hosts file instead of
                        scanning (air-gapped hosts, tests)

Where:
  --root DIR            install everything under DIR (an image, a test):
                        no apt-get, no systemctl, and scripts in the venv
                        point at /opt/gitops-agent as they will in DIR

Removal:
  --uninstall           stop and remove the units, the venv and the
                        /usr/local/bin/gitops-agent link; keep
                        /etc/gitops-agent and /var/lib/gitops-agent
  --purge               with --uninstall: remove those two as well

  -h, --help            show this help

Nothing is started when config_repo.url is not set yet: set it in
/etc/gitops-agent/config.yml and run the printed systemctl command.
Exit status: 0 done, 1 failed (one line on stderr says why), 2 bad usage.
EOF
}

# --- output and failure --------------------------------------------------------

log_file=""    # output of the commands run, kept only when one fails
work_dir=""    # temporary files

# Messages for the operator go to fd 3, the real stderr; once the log exists,
# fd 2 (what the commands run here say) goes into the log.
exec 3>&2
say() { printf '%s\n' "$*"; }
step() { printf -- '- %s\n' "$*"; }
warn() { printf '%s: warning: %s\n' "$PROG" "$*" >&3; }
die() {
  printf '%s: error: %s\n' "$PROG" "$*" >&3
  exit 1
}
usage_error() {
  printf '%s: %s (see --help)\n' "$PROG" "$*" >&3
  exit 2
}
last_logged() { grep -v '^[[:space:]]*$' "$log_file" 2>/dev/null | tail -n 1 || true; }

cleanup() {
  local status=$?
  if [[ -n $work_dir && -d $work_dir ]]; then rm -rf -- "$work_dir"; fi
  if [[ $status == 0 && -n $log_file ]]; then rm -f -- "$log_file"; fi
}
trap cleanup EXIT
# A failure nobody anticipated still ends in one line, said once: subshells
# only pass their status up.
on_error() {
  if [[ $BASHPID != "$$" ]]; then exit "$1"; fi
  if [[ -n $log_file ]]; then
    die "unexpected failure (exit $1) at line $2: $3: $(last_logged); full output in $log_file"
  fi
  die "unexpected failure (exit $1) at line $2: $3"
}
trap 'on_error $? $LINENO "$BASH_COMMAND"' ERR

# run WHAT COMMAND...: run COMMAND with its output in the log; on failure, one
# line with WHAT, the exit status, the last line of output and the log file.
run() {
  local what=$1 status=0 last
  shift
  printf '$ %s\n' "$*" >>"$log_file"
  "$@" >>"$log_file" 2>&1 </dev/null || status=$?
  if [[ $status != 0 ]]; then
    last=$(last_logged)
    die "$what failed (exit $status): ${last:-no output}; full output in $log_file"
  fi
}

# --- arguments -----------------------------------------------------------------

mode=""   # default: the mode installed already, else daemon
source_dir=""
snapshot=""
version=""
python=""
config_url=""
branch=""
host_name=""
status_url=""
git_host=""
known_hosts_file=""
root=""
uninstall=false
purge=false
install_flags=()   # given flags that --uninstall does not take

while (($#)); do
  arg=$1
  value=""
  case $arg in
    --*=*) value=${arg#*=}; arg=${arg%%=*} ;;
    --mode | --source | --version | --python | --config-url | --branch | --host-name | \
      --status-url | --git-host | --known-hosts-file | --root)
      (($# >= 2)) || usage_error "$arg needs a value"
      value=$2
      shift
      ;;
  esac
  case $arg in
    -h | --help) usage; exit 0 ;;
    --mode) mode=$value ;;
    --source) source_dir=$value ;;
    --version) version=$value ;;
    --python) python=$value ;;
    --config-url) config_url=$value ;;
    --branch) branch=$value ;;
    --host-name) host_name=$value ;;
    --status-url) status_url=$value ;;
    --git-host) git_host=$value ;;
    --known-hosts-file) known_hosts_file=$value ;;
    --root) root=$value ;;
    --uninstall) uninstall=true ;;
    --purge) purge=true ;;
    *) usage_error "unknown option: $1" ;;
  esac
  case $arg in
    --root | --uninstall | --purge) ;;
    *) install_flags+=("$arg") ;;
  esac
  shift
done

# A value that goes into config.yml: one line, nothing YAML or a shell would
# read differently inside double quotes.
check_plain() {
  local flag=$1 text=$2
  [[ -n $text ]] || usage_error "$flag is empty"
  if [[ $text =~ [[:space:][:cntrl:]\"\\] ]]; then
    usage_error "$flag must not contain spaces, quotes, backslashes or control characters"
  fi
}

if [[ -n $mode && $mode != daemon && $mode != timer ]]; then
  usage_error "--mode is daemon or timer, not '$mode'"
fi
if $purge; then uninstall=true; fi
if $uninstall && ((${#install_flags[@]})); then
  usage_error "--uninstall does not take ${install_flags[0]}"
fi
if [[ -n $version && -n $source_dir ]]; then
  usage_error "give --version (from PyPI) or --source (a source tree), not both"
fi
if [[ -n $version && ! $version =~ ^[0-9][0-9A-Za-z.+!-]*$ ]]; then
  usage_error "--version '$version' is not a version number"
fi
if [[ -n $config_url ]]; then check_plain --config-url "$config_url"; fi
if [[ -n $status_url ]]; then check_plain --status-url "$status_url"; fi
if [[ -n $branch ]]; then
  check_plain --branch "$branch"
  [[ $branch != -* ]] || usage_error "--branch must not start with '-'"
fi
if [[ -n $host_name && ! $host_name =~ ^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$ ]]; then
  usage_error "--host-name '$host_name': use letters, digits, '_', '.' and '-' (at most 63)"
fi

# The host to pin: --git-host, else the host of an ssh --config-url.
git_host_name=""
git_host_port=22
parse_git_host() {   # HOST[:PORT] or [IPV6][:PORT]
  local spec=$1
  if [[ $spec =~ ^\[([0-9A-Fa-f:.]+)\](:([0-9]+))?$ ]]; then
    git_host_name=${BASH_REMATCH[1]}
    git_host_port=${BASH_REMATCH[3]:-22}
  elif [[ $spec =~ ^([A-Za-z0-9_][A-Za-z0-9_.-]*)(:([0-9]+))?$ ]]; then
    git_host_name=${BASH_REMATCH[1]}
    git_host_port=${BASH_REMATCH[3]:-22}
  else
    return 1
  fi
  ((git_host_port >= 1 && git_host_port <= 65535))
}
# ssh://[user@]host[:port]/path and user@host:path (scp syntax); nothing for
# https, file and paths.
git_host_of_url() {
  local url=$1 rest
  case $url in
    ssh://* | git+ssh://* | ssh+git://*)
      rest=${url#*://}
      rest=${rest%%/*}
      printf '%s' "${rest##*@}"
      ;;
    *://* | /* | .*) ;;
    *:*)
      rest=${url%%:*}
      if [[ $rest != */* ]]; then printf '%s' "${rest##*@}"; fi
      ;;
  esac
}
if ! $uninstall; then
  if [[ -n $git_host ]]; then
    parse_git_host "$git_host" || usage_error "--git-host '$git_host' is not HOST or HOST:PORT"
  elif [[ -n $config_url && -z $known_hosts_file ]]; then
    # Checked now to fail early; the host is taken from the config file later.
    derived=$(git_host_of_url "$config_url")
    if [[ -n $derived ]] && ! parse_git_host "$derived"; then
      usage_error "cannot tell the ssh host of --config-url '$config_url': give --git-host"
    fi
    git_host_name=""
    git_host_port=22
  fi
fi

if ! $uninstall && [[ -z $version ]]; then
  source_dir=${source_dir:-$script_dir/..}
  [[ -d $source_dir ]] || die "--source $source_dir: no such directory"
  source_dir=$(cd -- "$source_dir" && pwd)
  [[ -f $source_dir/pyproject.toml ]] ||
    die "no gitops-agent source tree at $source_dir (give --source DIR or --version X)"
fi
if [[ -n $python && ! -x $python ]]; then
  die "--python $python: no such executable"
fi
if [[ -n $known_hosts_file && ! -r $known_hosts_file ]]; then
  die "--known-hosts-file $known_hosts_file: no such readable file"
fi

# --- where ---------------------------------------------------------------------

if [[ -n $root ]]; then
  [[ $root =~ ^[A-Za-z0-9._/+@-]+$ ]] ||
    usage_error "--root '$root': use a path of letters, digits and ._/+@-"
  root=$(realpath -m -- "$root")
fi
if [[ $root == / ]]; then root=""; fi
rooted=false
if [[ -n $root ]]; then rooted=true; fi
if ! $rooted && ((EUID != 0)); then
  die "run it as root (or install into a directory with --root DIR)"
fi
if $rooted; then
  mkdir -p -- "$root" 2>/dev/null || die "cannot create --root $root"
fi

venv=$root$VENV
config_dir=$root$CONFIG_DIR
config_file=$config_dir/config.yml
key_file=$config_dir/id_ed25519
known_hosts=$config_dir/known_hosts
state_dir=$root$STATE_DIR
unit_dir=$root$UNIT_DIR
command_link=$root$COMMAND_LINK

systemd_running=false
if ! $rooted && [[ -d /run/systemd/system ]] && command -v systemctl >/dev/null; then
  systemd_running=true
fi

log_file=$(mktemp "${TMPDIR:-/tmp}/gitops-agent-install.XXXXXX.log")
exec 2>>"$log_file"
work_dir=$(mktemp -d "${TMPDIR:-/tmp}/gitops-agent-install.XXXXXX")

# --- uninstall -----------------------------------------------------------------

remove_units() {   # UNIT...: stop, disable and delete these units if present
  local unit removed=()
  for unit in "$@"; do
    [[ -e $unit_dir/$unit ]] || continue
    if $systemd_running; then
      systemctl disable --now "$unit" >>"$log_file" 2>&1 ||
        warn "could not stop $unit (see $log_file)"
    fi
    rm -f -- "$unit_dir/$unit" "$unit_dir"/*.wants/"$unit"
    removed+=("$unit")
  done
  if ((${#removed[@]})); then
    step "removed ${removed[*]}"
    return 0
  fi
  return 1
}

uninstall_all() {
  local changed=false
  if remove_units "${DAEMON_UNITS[@]}" "${TIMER_UNITS[@]}"; then
    changed=true
    if $systemd_running; then run "systemctl daemon-reload" systemctl daemon-reload; fi
  fi
  if [[ -L $command_link && $(readlink -- "$command_link") == "$VENV/bin/gitops-agent" ]]; then
    rm -f -- "$command_link"
    step "removed $command_link"
  fi
  if [[ -e $venv ]]; then
    [[ -f $venv/pyvenv.cfg ]] || die "$venv is not a venv: not removing it"
    rm -rf -- "$venv"
    step "removed $venv"
    changed=true
  fi
  local dir
  for dir in "$config_dir" "$state_dir"; do
    [[ -e $dir ]] || continue
    if $purge; then
      rm -rf -- "$dir"
      step "removed $dir"
      changed=true
    else
      step "kept $dir (remove it with --uninstall --purge)"
    fi
  done
  if $changed; then
    say "gitops-agent is uninstalled."
  else
    say "gitops-agent is not installed: nothing to remove."
  fi
}

if $uninstall; then
  uninstall_all
  exit 0
fi

# --- packages and tools --------------------------------------------------------

if [[ -z $python ]]; then
  if [[ -x /usr/bin/python3 ]] || ! $rooted; then
    python=/usr/bin/python3
  else
    python=$(command -v python3 || true)
  fi
fi

python_ok() { [[ -x $python ]] && "$python" -I -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; }
venv_ok() { "$python" -I -c 'import ensurepip, venv' 2>/dev/null; }

missing_packages() {
  if [[ ! -x $python ]]; then
    printf '%s\n' python3 python3-venv
  elif ! venv_ok; then
    printf '%s\n' python3-venv
  fi
  command -v git >/dev/null || printf '%s\n' git
  command -v ssh-keygen >/dev/null && command -v ssh-keyscan >/dev/null &&
    command -v ssh >/dev/null || printf '%s\n' openssh-client
}

mapfile -t missing < <(missing_packages)
if ((${#missing[@]})); then
  if $rooted; then
    # Nothing is installed outside DIR: the agent needs git and ssh where it
    # runs, this installer only Python and ssh-keygen (checked below).
    for package in "${missing[@]}"; do
      case $package in
        git | openssh-client) warn "$package is missing here; make sure $root has it" ;;
        *) die "$package is missing on this host: apt-get install $package (or use --python)" ;;
      esac
    done
  else
    command -v apt-get >/dev/null || die "missing ${missing[*]} and no apt-get: install them first"
    step "installing ${missing[*]} with apt-get"
    export DEBIAN_FRONTEND=noninteractive
    # A fresh host often runs unattended-upgrades first: wait for its lock.
    apt=(apt-get -q -o DPkg::Lock::Timeout=300)
    run "apt-get update" "${apt[@]}" update
    run "apt-get install ${missing[*]}" "${apt[@]}" install -y --no-install-recommends "${missing[@]}"
  fi
fi
python_ok || die "$python is not Python >= 3.11 (give one with --python PATH)"
venv_ok || die "$python cannot create a venv (apt-get install python3-venv)"
command -v ssh-keygen >/dev/null || die "ssh-keygen is missing: apt-get install openssh-client"

# --- the venv and the agent ----------------------------------------------------

# The source tree's files as they are (uncommitted changes too, but nothing git
# ignores), copied so that building never writes into the tree.
snapshot_source() {
  local from=$1 to=$2
  mkdir -p -- "$to"
  if git -c safe.directory='*' -C "$from" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    (
      cd -- "$from"
      git -c safe.directory='*' ls-files -z --cached --others --exclude-standard |
        while IFS= read -r -d '' path; do
          if [[ -f $path || -L $path ]]; then printf '%s\0' "$path"; fi
        done | tar --null --no-recursion -T - -cf -
    ) | tar -xf - -C "$to"
  else
    tar -C "$from" --exclude=.git --exclude=.venv --exclude='*.egg-info' --exclude=build \
      --exclude=dist --exclude=__pycache__ --exclude='.*_cache' -cf - . | tar -xf - -C "$to"
  fi
}

# A digest of what goes into the package (not tests, docs or this installer),
# so that a run on an unchanged tree does not reinstall.
package_digest() {
  (
    cd -- "$1"
    shopt -s nullglob
    local parts=() part
    for part in pyproject.toml setup.cfg setup.py MANIFEST.in README* LICENSE* COPYING* gitops_agent; do
      if [[ -e $part ]]; then parts+=("$part"); fi
    done
    find "${parts[@]}" -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum | sha256sum |
      cut -d' ' -f1
  )
}

if [[ -n $version ]]; then
  requirement="gitops-agent==$version"
  wanted="pypi $version"
else
  version=$("$python" -I - "$source_dir/pyproject.toml" <<'PY'
import sys, tomllib
with open(sys.argv[1], "rb") as f:
    project = tomllib.load(f).get("project", {})
if project.get("name") != "gitops-agent" or "version" not in project:
    sys.exit(1)
print(project["version"])
PY
) || die "$source_dir/pyproject.toml is not gitops-agent's or has no version"
  snapshot=$work_dir/source
  run "copying the source tree $source_dir" snapshot_source "$source_dir" "$snapshot"
  requirement=$snapshot
  wanted="source $version sha256:$(package_digest "$snapshot")"
fi

# Python runs with -I everywhere: the current directory (say, a source tree
# with its own gitops_agent.egg-info) must not shadow what is installed.
venv_python=$venv/bin/python
if [[ -e $venv && ! -f $venv/pyvenv.cfg ]]; then
  die "$venv exists and is not a venv: move it away first"
fi
if [[ -f $venv/pyvenv.cfg ]] &&
  ! "$venv_python" -I -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
  # Its Python is gone or too old (a distribution upgrade): build it again.
  step "rebuilding $venv: its Python no longer works"
  rm -rf -- "$venv"
fi
if [[ ! -e $venv ]]; then
  mkdir -p -- "$(dirname -- "$venv")"
  run "creating the venv $venv" "$python" -I -m venv "$venv"
  step "created the venv $venv"
fi

installed_version() {
  "$venv_python" -I -c 'from importlib.metadata import version; print(version("gitops-agent"))' \
    2>/dev/null || true
}

package_changed=false
if [[ -f $venv/$STAMP && $(<"$venv/$STAMP") == "$wanted" && $(installed_version) == "$version" ]]
then
  step "gitops-agent $version is already installed in $venv"
else
  previous=$(installed_version)
  # pip always reinstalls a local tree (same version number, other code) and
  # leaves dependencies that are already satisfied alone.
  if [[ -n $snapshot ]]; then what="pip install of $source_dir"; else what="pip install $requirement"; fi
  run "$what" "$venv_python" -I -m pip --disable-pip-version-check --no-input -q install "$requirement"
  got=$(installed_version)
  [[ $got == "$version" ]] || die "installed gitops-agent ${got:-nothing}, wanted $version"
  printf '%s' "$wanted" >"$venv/$STAMP"
  package_changed=true
  if [[ -n $previous && $previous != "$version" ]]; then
    step "installed gitops-agent $version in $venv (was $previous)"
  else
    step "installed gitops-agent $version in $venv"
  fi
fi

# Under --root, pip wrote DIR/opt/gitops-agent into the scripts' #! lines and
# the activate scripts: point them at /opt/gitops-agent, where DIR's system
# will find them.
if $rooted; then
  while IFS= read -r -d '' script; do
    if head -c 300 -- "$script" | grep -qF -- "$venv"; then
      sed -i "1,5s#${venv}#${VENV}#g" -- "$script"
    fi
  done < <(find "$venv/bin" -maxdepth 1 -type f -print0)
  for script in "$venv"/bin/activate*; do
    if [[ -f $script ]]; then sed -i "s#${venv}#${VENV}#g" -- "$script"; fi
  done
fi

# `gitops-agent` on root's PATH.
if [[ -L $command_link && $(readlink -- "$command_link") == "$VENV/bin/gitops-agent" ]]; then
  :
elif [[ -e $command_link || -L $command_link ]]; then
  warn "$command_link exists and is not this venv's: left as it is"
else
  install -d -m 0755 -- "$(dirname -- "$command_link")"
  ln -s -- "$VENV/bin/gitops-agent" "$command_link"
  step "linked $command_link -> $VENV/bin/gitops-agent"
fi

# --- config --------------------------------------------------------------------

yaml_string() { printf '"%s"' "$1"; }   # check_plain made it safe to quote

install -d -m 0700 -- "$config_dir"
install -d -m 0700 -- "$state_dir"

if [[ -e $config_file ]]; then
  step "kept the existing $config_file"
  if [[ $(stat -c %a -- "$config_file") != 600 ]]; then
    warn "$config_file is mode $(stat -c %a -- "$config_file"); it should be 0600"
  fi
  ignored=()
  for flag in --config-url --branch --host-name --status-url; do
    for given in "${install_flags[@]}"; do
      if [[ $given == "$flag" ]]; then ignored+=("$flag"); fi
    done
  done
  if ((${#ignored[@]})); then
    say "  (${ignored[*]} left it as it is: edit it with gitops-agent configure)"
  fi
else
  template=$script_dir/../gitops_agent/config/agent.yml.template
  [[ -r $template ]] || die "the config template $template is missing"
  rendered=$work_dir/config.yml
  while IFS= read -r line || [[ -n $line ]]; do
    case $line in
      *@HOST_NAME@*)
        [[ -n $host_name ]] || continue   # the agent then uses the short hostname
        line=${line//@HOST_NAME@/"$(yaml_string "$host_name")"}
        ;;
      *@CONFIG_URL@*)
        if [[ -n $config_url ]]; then
          value=$(yaml_string "$config_url")
        else
          value='""   # REQUIRED: the agent refuses to run without it'
        fi
        line=${line//@CONFIG_URL@/"$value"}
        ;;
      *@BRANCH@*) line=${line//@BRANCH@/"$(yaml_string "${branch:-main}")"} ;;
      *@STATUS_URL@*)
        value=null
        if [[ -n $status_url ]]; then value=$(yaml_string "$status_url"); fi
        line=${line//@STATUS_URL@/"$value"}
        ;;
    esac
    printf '%s\n' "$line"
  done <"$template" >"$rendered"
  if grep -q '@[A-Z_]*@' "$rendered"; then
    die "the config template has a placeholder this installer does not know"
  fi
  chmod 0600 -- "$rendered"
  if ((EUID == 0)); then chown 0:0 -- "$rendered"; fi
  mv -f -- "$rendered" "$config_file"
  step "wrote $config_file (mode 0600)"
fi

# --- the deploy key ------------------------------------------------------------

key_host=$host_name
if [[ -z $key_host ]]; then
  key_host=$(uname -n)
  key_host=${key_host%%.*}
fi
if [[ -e $key_file ]]; then
  step "kept the existing deploy key $key_file"
  # The agent runs ssh with BatchMode=yes: a key with a passphrase cannot work.
  public=$(ssh-keygen -y -P "" -f "$key_file" </dev/null) ||
    die "$key_file is not a private key without passphrase, which the agent needs"
  if [[ ! -e $key_file.pub ]]; then
    printf '%s\n' "$public" >"$key_file.pub"
  fi
  new_key=false
else
  run "ssh-keygen" ssh-keygen -q -t ed25519 -N "" -C "gitops-agent@$key_host" -f "$key_file"
  step "created the deploy key $key_file"
  new_key=true
fi
chmod 0600 -- "$key_file"
chmod 0644 -- "$key_file.pub"

# The config repo's and the status repo's URLs, as the config (kept or new)
# says (one line each, empty when not set), and whether reports are on.
mapfile -t urls < <("$venv_python" -I - "$config_file" <<'PY' 2>/dev/null || true
import sys, yaml
with open(sys.argv[1]) as f:
    data = yaml.safe_load(f)
data = data if isinstance(data, dict) else {}
for section in ("config_repo", "status"):
    url = (data.get(section) or {}).get("url") if isinstance(data.get(section), dict) else None
    print(url if isinstance(url, str) else "")
print("off" if (data.get("status") or {}).get("enabled") is False else "on")
PY
)
repo_url=${urls[0]:-}
status_repo_url=${urls[1]:-}
status_reports=${urls[2]:-on}

# --- the git host's key --------------------------------------------------------

if [[ -z $git_host && -z $known_hosts_file && -n $repo_url ]]; then
  derived=$(git_host_of_url "$repo_url")
  if [[ -n $derived ]] && ! parse_git_host "$derived"; then
    warn "cannot tell the ssh host of $repo_url: give --git-host HOST[:PORT] to pin its key"
  fi
fi
touch -- "$known_hosts"
chmod 0644 -- "$known_hosts"
fingerprints=""
if [[ -n $known_hosts_file ]]; then
  ssh-keygen -l -f "$known_hosts_file" >/dev/null 2>&1 ||
    die "--known-hosts-file $known_hosts_file has no host keys ssh can read"
  added=0
  while IFS= read -r line || [[ -n $line ]]; do
    [[ -z ${line//[[:space:]]/} || $line == \#* ]] && continue
    if ! grep -qxF -- "$line" "$known_hosts"; then
      printf '%s\n' "$line" >>"$known_hosts"
      added=$((added + 1))
    fi
  done <"$known_hosts_file"
  step "added $added host key(s) from $known_hosts_file to $known_hosts"
  fingerprints=$(ssh-keygen -l -f "$known_hosts_file")
elif [[ -n $git_host_name ]]; then
  if ((git_host_port == 22)); then lookup=$git_host_name; else lookup="[$git_host_name]:$git_host_port"; fi
  if ssh-keygen -F "$lookup" -f "$known_hosts" >/dev/null 2>&1; then
    step "kept the pinned host key(s) of $lookup in $known_hosts"
  else
    command -v ssh-keyscan >/dev/null || die "ssh-keyscan is missing: apt-get install openssh-client"
    scanned=$work_dir/scanned
    ssh-keyscan -T 10 -p "$git_host_port" -- "$git_host_name" >"$scanned" 2>>"$log_file" || true
    if ! ssh-keygen -l -f "$scanned" >/dev/null 2>&1; then
      die "ssh-keyscan got no host key from $git_host_name port $git_host_port" \
        "(give --known-hosts-file FILE if it cannot be reached from here);" \
        "full output in $log_file"
    fi
    cat -- "$scanned" >>"$known_hosts"
    step "pinned the host key(s) of $lookup in $known_hosts"
  fi
  fingerprints=$(ssh-keygen -l -F "$lookup" -f "$known_hosts" | grep -v '^#' || true)
else
  pinned=$(grep -cv '^[[:space:]]*\(#\|$\)' "$known_hosts" || true)
  step "no ssh git host to pin; $known_hosts has ${pinned:-0} key(s) (add one with --git-host HOST[:PORT])"
fi

# --- systemd units -------------------------------------------------------------

if [[ -z $mode ]]; then
  # Run again without --mode (an upgrade): stay in the mode installed.
  if [[ -e $unit_dir/${TIMER_UNITS[1]} && ! -e $unit_dir/${DAEMON_UNITS[0]} ]]; then
    mode=timer
  else
    mode=daemon
  fi
fi

if [[ $mode == daemon ]]; then
  units=("${DAEMON_UNITS[@]}")
  other_units=("${TIMER_UNITS[@]}")
  start_unit=gitops-agent.service
else
  units=("${TIMER_UNITS[@]}")
  other_units=("${DAEMON_UNITS[@]}")
  start_unit=gitops-agent-run.timer
fi

units_changed=false
install -d -m 0755 -- "$unit_dir"
if remove_units "${other_units[@]}"; then units_changed=true; fi
for unit in "${units[@]}"; do
  template=$script_dir/systemd/$unit
  [[ -r $template ]] || die "the unit template $template is missing"
  if [[ -f $unit_dir/$unit ]] && cmp -s -- "$template" "$unit_dir/$unit"; then
    step "$unit_dir/$unit is up to date"
  else
    if [[ -e $unit_dir/$unit ]]; then verb=updated; else verb=installed; fi
    install -m 0644 -- "$template" "$unit_dir/$unit"
    step "$verb $unit_dir/$unit"
    units_changed=true
  fi
done

configured=false
if [[ -n $repo_url ]]; then configured=true; fi

# --- what the operator does next -------------------------------------------------

say ""
say "gitops-agent $version is installed ($mode mode)."
say ""
new_note=""
if $new_key; then new_note=" (new)"; fi
say "Deploy key $CONFIG_DIR/id_ed25519.pub$new_note:"
say ""
say "  $(<"$key_file.pub")"
say ""
say "Register it on your git host as a deploy key:"
if [[ $status_reports == off ]]; then
  say "  - the config repo: read-only (status reports are off)"
elif [[ -n $status_repo_url ]]; then
  say "  - the config repo: read-only"
  say "  - the status repo ($status_repo_url): with write access (the report is pushed there)"
else
  say "  - the config repo: with write access (the status report is pushed to its"
  say "    status branch; use --status-url for a separate status repo to avoid that)"
fi
say "  - every app repo named in apps/*.yml (source.url): read-only"
say "  (GitHub accepts one key on one repo only: for several repos use a machine user.)"
if $rooted; then
  say "  Every machine made from $root shares this key; to give each its own, delete"
  say "  $CONFIG_DIR/id_ed25519* in the image and run this installer on the machine."
fi
if [[ -n $fingerprints ]]; then
  say ""
  say "Pinned git host key(s) in $CONFIG_DIR/known_hosts; compare with your git host's:"
  while IFS= read -r line; do say "  $line"; done <<<"$fingerprints"
fi
say ""

if $systemd_running; then
  if $units_changed; then run "systemctl daemon-reload" systemctl daemon-reload; fi
  if $configured; then
    was_active=false
    if systemctl is-active --quiet "$start_unit"; then was_active=true; fi
    run "systemctl enable --now $start_unit" systemctl enable --now "$start_unit"
    # A running daemon keeps the old code and unit until restarted; the timer
    # mode's next pass uses the new ones anyway.
    if $was_active && [[ $mode == daemon ]] && { $package_changed || $units_changed; }; then
      run "systemctl restart $start_unit" systemctl restart "$start_unit"
      step "restarted $start_unit"
    fi
    say "Enabled and started $start_unit."
  else
    say "Set config_repo.url in $CONFIG_DIR/config.yml, then start the agent:"
    say "  systemctl enable --now $start_unit"
  fi
elif $rooted; then
  if ! $configured; then say "Set config_repo.url in $root$CONFIG_DIR/config.yml."; fi
  say "Enable the agent in $root (it starts when that system boots):"
  say "  systemctl --root=$root enable $start_unit"
else
  if ! $configured; then say "Set config_repo.url in $CONFIG_DIR/config.yml."; fi
  say "systemd is not running here; on a systemd host, start the agent with:"
  say "  systemctl daemon-reload && systemctl enable --now $start_unit"
fi
say "Then check it with:"
if [[ $mode == daemon ]]; then
  say "  systemctl status gitops-agent; journalctl -u gitops-agent -f"
else
  say "  systemctl list-timers gitops-agent-run.timer; journalctl -u gitops-agent-run"
fi
say "  gitops-agent status   (that is $VENV/bin/gitops-agent)"
