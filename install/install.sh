#!/usr/bin/env bash
# Bootstrap gitops-agent on a Debian or Ubuntu host, as root: a venv in
# /opt/gitops-agent with the agent, then `gitops-agent setup` with every other
# flag (config, deploy key, pinned host keys, systemd units).  Safe to run
# again; --help for the flags.
set -Eeuo pipefail

readonly PROG=install.sh
readonly VENV=/opt/gitops-agent                     # the units run $VENV/bin/gitops-agent
readonly COMMAND_LINK=/usr/local/bin/gitops-agent   # -> $VENV/bin/gitops-agent
readonly STAMP=.gitops-agent-install                # in the venv: what was installed
script_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
readonly script_dir

usage() {
  cat <<'EOF'
Usage: install.sh [--source DIR | --version X] [--python PATH] [SETUP FLAGS]
       install.sh --uninstall [--purge] [--root DIR]

Install gitops-agent on this Debian/Ubuntu host (run as root): a venv in
/opt/gitops-agent with the agent (reinstalled only when it changed), the
link /usr/local/bin/gitops-agent, then `gitops-agent setup` with the other
flags.  Missing Python venv support, git and openssh-client are installed
with apt-get.

  --source DIR     install from this source tree (default: the tree holding
                   this script)
  --version X      install gitops-agent==X from PyPI instead
  --python PATH    Python >= 3.11 for the venv (default /usr/bin/python3)
  --root DIR       install everything under DIR (an image, a test): no
                   apt-get, no systemctl; also passed to setup
  --dry-run        say what would be done, write nothing
  --uninstall      `gitops-agent setup --uninstall` (stop and remove the
                   units), then remove the venv and the link; with --purge
                   setup also removes /etc/gitops-agent and /var/lib/gitops-agent
  -h, --help       show this help

Setup flags, given to `gitops-agent setup` (its --help says more):
  --config-url URL, --branch NAME, --host-name NAME, --status-url URL,
  --mode daemon|timer, --git-host HOST[:PORT], --known-hosts-file FILE, --check

Exit status: setup's (0 done; 3 set up, but the config repo cannot be
reached yet: register the deploy key it printed and run it again), else
1 failed (one line on stderr says why), 2 bad usage.
EOF
}

die() { printf '%s: error: %s\n' "$PROG" "$*" >&2; exit 1; }
usage_error() { printf '%s: %s (see --help)\n' "$PROG" "$*" >&2; exit 2; }
step() { printf -- '- %s\n' "$*"; }

log="" work_dir=""   # the commands' output (kept only when one failed), a scratch dir
trap 'rm -rf -- ${log:+"$log"} ${work_dir:+"$work_dir"}' EXIT

# run WHAT COMMAND...: its output goes to the log; a failure is one line naming it.
run() {
  local what=$1 status=0 kept last
  shift
  log=${log:-$(mktemp "${TMPDIR:-/tmp}/gitops-agent-install.XXXXXX.log")}
  "$@" >>"$log" 2>&1 </dev/null || status=$?
  if ((status)); then
    last=$(grep -v '^[[:space:]]*$' "$log" | tail -n 1 || true)
    kept=$log log=""
    die "$what failed (exit $status): ${last:-no output}; full output in $kept"
  fi
}

# --- arguments: ours, and the rest for setup -------------------------------------

source="" version="" python="" root="" dry_run=false uninstall=false setup_args=()
while (($#)); do
  case $1 in
    -h | --help) usage; exit 0 ;;
    --source=* | --version=* | --python=* | --root=*) set -- "${1%%=*}" "${1#*=}" "${@:2}"; continue ;;
    --source | --version | --python | --root)
      (($# >= 2)) || usage_error "$1 needs a value"
      printf -v "${1#--}" '%s' "$2"   # the variable of the flag's name
      shift ;;
    --dry-run) dry_run=true; setup_args+=("$1") ;;
    --uninstall) uninstall=true; setup_args+=("$1") ;;
    *) setup_args+=("$1") ;;
  esac
  shift
done

if [[ -n $version && -n $source ]]; then
  usage_error "give --version (from PyPI) or --source (a source tree), not both"
fi
if [[ -n $version && ! $version =~ ^[0-9][0-9A-Za-z.+!-]*$ ]]; then
  usage_error "--version '$version' is not a version number"
fi
if [[ -n $python && ! -x $python ]]; then die "--python $python: no such executable"; fi
if [[ -z $version ]]; then
  source=${source:-$script_dir/..}
  [[ -d $source ]] || die "--source $source: no such directory"
  source=$(cd -- "$source" && pwd)
  [[ -f $source/pyproject.toml ]] ||
    die "no gitops-agent source tree at $source (give --source DIR or --version X)"
fi
root_args=()
if [[ -n $root ]]; then
  given=$root root=$(realpath -m -- "$root")
  if [[ $root == / && $(realpath -ms -- "$given") != / ]]; then
    usage_error "--root $given leads to /: give --root / (or none) to install on this host itself"
  fi
  if [[ $root == / ]]; then root=""; else root_args=(--root "$root"); fi
fi
if [[ -z $root ]] && ((EUID != 0)) && ! $dry_run; then
  die "run it as root (or install into a directory with --root DIR)"
fi
venv=$root$VENV
command_link=$root$COMMAND_LINK
setup() { "$venv/bin/python" -I -m gitops_agent setup "${setup_args[@]}" "${root_args[@]}" "$@"; }
installed() { "$venv/bin/python" -I -c 'from importlib.metadata import version
print(version("gitops-agent"))' 2>/dev/null || true; }

# --- uninstall: setup removes the units (and with --purge config and state) ------

if $uninstall; then
  if [[ ! -x $venv/bin/python ]]; then
    step "no agent in $venv: nothing to uninstall (remove what is left of /etc/gitops-agent and /var/lib/gitops-agent by hand)"
    exit 0
  fi
  if [[ -n $(installed) ]]; then setup; else step "no agent in $venv (a failed install?)"; fi
  if $dry_run; then step "would remove $venv and $command_link"; exit 0; fi
  if [[ -L $command_link && $(readlink -- "$command_link") == "$VENV/bin/gitops-agent" ]]; then
    rm -f -- "$command_link"
    step "removed $command_link"
  fi
  [[ -f $venv/pyvenv.cfg ]] || die "$venv is not a venv: not removing it"
  rm -rf -- "$venv"
  step "removed $venv"
  exit 0
fi

# --- Python, git and ssh ---------------------------------------------------------

if [[ -z $python ]]; then
  python=/usr/bin/python3
  if [[ ! -x $python && -n $root ]]; then python=$(command -v python3 || true); fi
fi
# What gives this Python venv support on Debian/Ubuntu: python3-venv for the
# system's python3 (it pulls in python3.X-venv), python3.X-venv for another.
venv_package() {
  if [[ $python != /usr/bin/python3 ]] &&
    "$python" -I -c 'import sys; print("python%d.%d-venv" % sys.version_info[:2])' 2>/dev/null; then
    return
  fi
  echo python3-venv
}
venv_ok() { "$python" -I -c 'import ensurepip, venv' 2>/dev/null; }
missing=()
if [[ ! -x $python ]]; then missing+=(python3 python3-venv)
elif ! venv_ok; then missing+=("$(venv_package)"); fi
command -v git >/dev/null || missing+=(git)
command -v ssh-keygen >/dev/null && command -v ssh-keyscan >/dev/null || missing+=(openssh-client)
if ((${#missing[@]})); then
  if $dry_run; then
    step "would apt-get install ${missing[*]}, make the venv $venv and run gitops-agent setup"
    exit 0
  fi
  if [[ -n $root ]] || ! command -v apt-get >/dev/null; then
    die "missing here: ${missing[*]} (apt-get install ${missing[*]})"
  fi
  step "installing ${missing[*]} with apt-get"
  export DEBIAN_FRONTEND=noninteractive
  apt=(apt-get -q -o DPkg::Lock::Timeout=300)   # a fresh host runs unattended-upgrades
  run "apt-get update" "${apt[@]}" update
  run "apt-get install ${missing[*]}" "${apt[@]}" install -y --no-install-recommends "${missing[@]}"
fi
"$python" -I -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null ||
  die "$python is not Python >= 3.11 (give one with --python PATH)"
venv_ok || die "$python cannot make a venv: apt-get install $(venv_package)"

# --- the venv ----------------------------------------------------------------------

if [[ -n $version ]]; then
  requirement="gitops-agent==$version" wanted="pypi $version"
else
  version=$("$python" -I -c 'import sys, tomllib
project = tomllib.load(open(sys.argv[1], "rb")).get("project", {})
if project.get("name") != "gitops-agent":
    sys.exit(1)
print(project["version"])' "$source/pyproject.toml") ||
    die "$source/pyproject.toml is not gitops-agent's"
  # A copy of the tree without what git ignores, so that building writes nothing
  # into it; its digest tells whether this build is installed already.
  work_dir=$(mktemp -d "${TMPDIR:-/tmp}/gitops-agent-install.XXXXXX")
  requirement=$work_dir/source
  mkdir -- "$requirement"
  tar -C "$source" --exclude-vcs --exclude-vcs-ignores --exclude=.venv -cf - . |
    tar -xf - -C "$requirement"
  digest=$(cd -- "$requirement" && find pyproject.toml README.md gitops_agent -type f -print0 |
    LC_ALL=C sort -z | xargs -0 sha256sum | sha256sum | cut -d' ' -f1)
  wanted="source $version sha256:$digest"
fi

restart=()   # a running daemon still runs the old agent: setup restarts it
if [[ -f $venv/$STAMP && $(<"$venv/$STAMP") == "$wanted" && $(installed) == "$version" ]]; then
  step "gitops-agent $version is already installed in $venv"
elif $dry_run; then
  step "would install gitops-agent $version in $venv"
else
  if [[ -e $venv && ! -f $venv/pyvenv.cfg ]]; then die "$venv exists and is not a venv"; fi
  if [[ -e $venv ]] && ! "$venv/bin/python" -I -c '' 2>/dev/null; then
    rm -rf -- "$venv"   # its Python is gone (a distribution upgrade): build it again
  fi
  if [[ ! -e $venv ]]; then
    mkdir -p -- "$(dirname -- "$venv")"
    run "creating the venv $venv" "$python" -I -m venv "$venv"
  fi
  previous=$(installed)
  run "pip install of gitops-agent $version" "$venv/bin/python" -I -m pip \
    --disable-pip-version-check --no-input -q install "$requirement"
  [[ $(installed) == "$version" ]] || die "installed gitops-agent $(installed), wanted $version"
  printf '%s' "$wanted" >"$venv/$STAMP"
  step "installed gitops-agent $version in $venv${previous:+ (was $previous)}"
  if [[ " ${setup_args[*]} " != *" --check "* ]]; then restart=(--restart); fi
  if [[ -n $root ]]; then   # pip wrote DIR/opt/gitops-agent into the scripts: point them
    grep -lIZ -F -- "$venv" "$venv"/bin/* 2>/dev/null | xargs -0 -r sed -i "s#${venv}#${VENV}#g"
  fi
fi

if [[ ! -e $command_link && ! -L $command_link ]] && ! $dry_run; then
  mkdir -p -- "$(dirname -- "$command_link")"
  ln -s -- "$VENV/bin/gitops-agent" "$command_link"
  step "linked $command_link -> $VENV/bin/gitops-agent"
fi

# --- setup ------------------------------------------------------------------------

if [[ ! -x $venv/bin/python ]]; then   # a dry run before the venv exists
  step "would run: gitops-agent setup ${setup_args[*]} ${root_args[*]}" |
    sed -E 's#(://)[^/ ]*@#\1***@#g'   # no credentials of an https URL
  exit 0
fi
setup "${restart[@]}"   # -I: a source tree in the current directory shadows nothing
