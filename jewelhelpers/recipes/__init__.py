"""fastai training recipes on top of `core`: DataLoaders, fitting blocks, fastbook's recipe, LP-FT, the frozen baseline."""
import warnings

warnings.filterwarnings("ignore", message=".*torch.jit.script.*", category=FutureWarning)  # noise from fastai's import
