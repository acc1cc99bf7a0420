"""jewelhelpers: the library behind the jewel-vision course (jewelry image classification by transfer learning).

Notebooks start with `from jewelhelpers.all import *` (as fastai's `from fastai.vision.all import *`);
scripts import from the modules themselves. This file stays light so the `jewel` command starts quickly.
"""
__version__ = "0.1.0"
