"""Bag tests: make test/bag and test/ros (pipeline double) importable."""
import sys
from pathlib import Path


HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "ros"))
sys.path.insert(0, str(HERE))
