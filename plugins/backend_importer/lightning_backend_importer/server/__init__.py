"""``tikv-importer``: tikv-importer's ImportKV service over the local backend's engines.

:mod:`.config` reads tikv-importer.toml, :mod:`.engines` keeps the engines under
``import-dir``, :mod:`.service` answers ImportKV, :mod:`.status` serves ``/metrics`` and
``/status``, and :mod:`.main` is the command.
"""
