"""`python -m business check`: validate the business profile and summarise it."""

from __future__ import annotations

import sys

from business.profile import ProfileError, load_profile
from business.russian import counted


def main(argv: list[str]) -> int:
    if argv[1:] not in ([], ["check"]):
        print("usage: python -m business [check]", file=sys.stderr)
        return 2
    try:
        profile = load_profile()
    except ProfileError as error:
        print(f"Business profile error: {error}", file=sys.stderr)
        return 1
    print(
        f"{profile.name}: {counted(len(profile.services), 'услуга', 'услуги', 'услуг')}, "
        f"{counted(len(profile.staff), 'мастер', 'мастера', 'мастеров')}, "
        f"{profile.hours_text()}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
