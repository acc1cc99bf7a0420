"""jewelhelpers: the library behind the jewel-vision course (jewelry image classification by transfer learning).

Notebooks may `from jewelhelpers import *`; scripts should import from the modules.
"""
from .errors import JewelError
from .profiles import Profile, get_profile, data_dir, external_dirs

__all__ = ["JewelError", "Profile", "get_profile", "data_dir", "external_dirs"]
__version__ = "0.1.0"
