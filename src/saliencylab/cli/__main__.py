"""``python -m saliencylab.cli`` runs the command-line tool."""

from saliencylab.cli import main

main()
