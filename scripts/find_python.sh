#!/usr/bin/env bash
# Prints the path of a working Python 3.10 (Rasa 3.6 needs 3.8-3.10), or fails.
# Order: $PYTHON, python3.10 on PATH, pyenv's 3.10 builds, /usr/bin/python3.10.
works() { [ -n "$1" ] && "$1" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 10))' 2>/dev/null; }
if [ -n "${PYTHON:-}" ]; then
    works "$PYTHON" && { echo "$PYTHON"; exit 0; }
    echo "PYTHON=$PYTHON is not a working Python 3.10 (Rasa 3.6 needs 3.8-3.10)." >&2
    exit 1
fi
for candidate in "$(command -v python3.10 || true)" \
    $(ls -d "$HOME"/.pyenv/versions/3.10*/bin/python3.10 2>/dev/null | sort -V -r) \
    /usr/bin/python3.10 /usr/local/bin/python3.10; do
    if works "$candidate"; then
        echo "$candidate"
        exit 0
    fi
done
echo "Rasa 3.6 needs Python 3.10, and none was found." >&2
echo "Install it (for example 'pyenv install 3.10') or point at one: make run PYTHON=/path/to/python3.10" >&2
exit 1
