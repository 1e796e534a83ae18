"""``python -m seethrough`` (also what ``torchrun ... -m seethrough train`` runs)."""

from .cli import main

if __name__ == "__main__":
    main()
