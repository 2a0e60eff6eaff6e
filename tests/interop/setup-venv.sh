#!/usr/bin/env bash
# Create (or reuse) the Python environments the interop tests run in.
#   .venv/interop   h5pyd 1.0.0, hsds 1.0.2, h5py, boto3, awscli, pytest (the main suite); cargo-lambda
#                   (benches/emulator_vs_cargo_lambda.py, run once by test_bench_scripts.py)
#   .venv/h5pyd024  h5pyd 0.24.0 + boto3, for the http+lambda:// direct-invoke transport
#   .venv/moto      moto's S3 server: a second S3, written by others, for the function to run against
# The packages asked for are listed here; every package installed, their dependencies (HSDS's own included)
# too, is pinned by tests/interop/constraints/<venv>.txt, frozen from working venvs (`pip freeze`), so a new
# upstream release cannot change what CI runs. To move a pin: change it, delete .venv/, rerun, rerun the
# suite, then refreeze (`.venv/<venv>/bin/pip freeze > tests/interop/constraints/<venv>.txt`).
# Re-running is cheap: a stamp file records what was installed (packages and constraints).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
venvs=${HSLAMBDA_VENV_DIR:-$root/.venv}
py=${PYTHON:-python3}
constraints=$root/tests/interop/constraints
if ! "$py" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
  echo "setup-venv: $py is $("$py" --version 2>&1 || echo missing); Python 3.11 or newer is required (set PYTHON=...)" >&2
  exit 1
fi

main_pkgs="hsds==1.0.2 h5pyd==1.0.0 h5py==3.16.0 numpy==2.4.6 boto3==1.43.117 botocore==1.43.117 awscli==1.46.3 pytest==9.2.0 requests==2.34.2 requests-unixsocket==0.4.1 cargo-lambda==1.9.2"
moto_pkgs="moto[server]==5.2.5"
old_pkgs="h5pyd==0.24.0 h5py==3.16.0 numpy==2.4.6 boto3==1.43.117 botocore==1.43.117 pytest==9.2.0 requests==2.34.2"

make_venv() {  # name, packages
  local dir=$venvs/$1 pkgs=$2 pins=$constraints/$1.txt
  [ -f "$pins" ] || { echo "setup-venv: $pins is missing" >&2; exit 1; }
  local stamp
  stamp="$pkgs $(sha256sum < "$pins" | cut -c1-16)"
  if [ -f "$dir/.stamp" ] && [ "$(cat "$dir/.stamp")" = "$stamp" ]; then return 0; fi
  echo "setup-venv: creating $dir" >&2
  rm -rf "$dir"
  "$py" -m venv "$dir"
  "$dir/bin/pip" install -q --disable-pip-version-check -c "$pins" $pkgs
  echo "$stamp" > "$dir/.stamp"
}
make_venv interop "$main_pkgs"
make_venv h5pyd024 "$old_pkgs"
make_venv moto "$moto_pkgs"
echo "$venvs"
