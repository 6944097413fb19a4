"""Pack entry point (`trtforge.packs` entry point `transformers`): identity and registrations.

Name, version and description come from the distribution's metadata (pyproject.toml); the
converters are imported when the pack loads, not when Python starts.
"""
from trtforge.plugins import converters_hook, info_hook

trtforge_pack_info = info_hook(api_version="1.1")
trtforge_register_converters = converters_hook("trtforge_transformers.converters")
