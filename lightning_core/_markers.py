"""The pluggy marker pair of the ``lightning`` project; imports nothing but pluggy."""

import pluggy

PROJECT_NAME = "lightning"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)
