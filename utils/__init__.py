"""The shared code of the *Vanishing Gradients* course.

Every notebook starts with ``utils.setup()``, which seeds all random number
generators, picks the device and sets the plot style. The rooms of the package:

Building and training (PyTorch)
- ``utils.data``         the shipped digits, small synthetic sets (spirals, moons, a curve) and
                         long-lag sequence tasks (the adding problem, the first symbol)
- ``utils.nets``         builders: ``make_mlp`` (activation, init, norm, dropout, residual
                         blocks), ``make_convnet``, ``make_sequence_model`` (RNN/LSTM/GRU;
                         stacked layers as a ``RecurrentStack`` whose every layer GradFlow
                         reads); ``hidden_layers(model)``
- ``utils.train``        one training loop: history, ``on_step`` hook between backward and
                         step, clipping, the gradient norm of every step, a clear stop on NaN

From scratch, one module per mechanism (NumPy first, then matched to PyTorch)
- ``utils.optimizers``   gradient descent on test functions (01) and one pure update rule per
                         optimizer, wrapped as a ``torch.optim.Optimizer`` (``RuleOptimizer``, 07)
- ``utils.backprop``     a multilayer perceptron with backpropagation in NumPy (02)
- ``utils.activations``  the one table of activations: torch module, NumPy function, slope (04)
- ``utils.initializers`` the one table of weight initializers, NumPy and torch; Jacobian
                         spectra (05)
- ``utils.normalization`` batch norm from scratch (forward, eval, running statistics, the
                         backward pass as three named terms) and layer norm (06)
- ``utils.residual``     residual connections measured (08): the gradient at each block's
                         input, the plain twin, deleting a block, path lengths and the gradient
                         per path length, post-LN/pre-LN transformer stacks
- ``utils.recurrent``    the tanh RNN, LSTM and GRU cells in tensor code with PyTorch's weight
                         layout (``cell_weights``, ``unroll``); the recurrent Jacobian, its
                         spectral radius and norm (09)
- ``utils.regularization`` bias and variance measured (11): the polynomial U-curve, many small
                         MLPs trained side by side (capacity, early stopping, weight decay,
                         dropout), inverted dropout matched to ``nn.Dropout``, Monte Carlo
                         dropout, the sigmoid as a CDF and GELU as a gated expectation
- ``utils.gan``          a 1-D GAN (11): the saturating and non-saturating generator losses,
                         their gradients with respect to the logit from scratch, the generator's
                         gradient norm as the discriminator grows confident, a short GAN run
- ``utils.clipping``     gradient clipping by norm and by value, matched to ``torch.nn.utils``
                         (the pre-clip norm, the 1e-6); the one-unit loss cliff (10)

Measuring gradient health
- ``utils.gradflow``     ``GradFlow``: per-layer statistics for every layer kind (one registry,
                         ``KINDS``; statistics as pure functions), ``hidden_state_gradients``
- ``utils.diagnosis``    ``diagnose`` (one batch) and ``diagnose_run`` (a whole run's History
                         and GradFlow: guessing at ln C, learning rate too high or too low, the
                         first NaN module and step, dead units, batch-norm mode, clipping, a
                         missing zero_grad, unscaled inputs, a softmax before the loss):
                         structured findings that name the notebook teaching the fix
- ``utils.checklist``    the gradient doctor's checklist (what to measure, in what order,
                         which fix), its thresholds read from ``utils.diagnosis`` (11;
                         ``docs/checklist.md``)
- ``utils.scoreboard``   the scoreboard (11): one failing 20-layer sigmoid MLP and every fix
                         alone and in combination (``CONFIGURATIONS``), one run per
                         configuration and seed, the table and the figure
- ``utils.plots``        the course's figures and styles (a colour per activation and init)
- ``utils.widgets``      the interactive explorers (pure functions + ipywidgets UIs);
                         ``utils.widgets.residual``: per-block gradient norms against depth,
                         skips and norm placement (08); ``utils.widgets.recurrent``: gradient
                         norm against lag for RNN/LSTM/GRU × scale × length × clipping (10)

The course's own machinery
- ``utils.claims``       ``claim(...)``: check a statement of the prose and print it (and log
                         it to the claims ledger when ``COURSE_CLAIMS_LOG`` is set)
- ``utils.exercises``    self-checks: ``core`` (feedback, slips, conventions, hints),
                         ``patients`` (broken networks and their causes), one module per notebook
- ``utils.checks``       the shared argument checks and the one number coercion
- ``utils.course``       the curriculum (titles, papers, run times) and the repository address
- ``utils.setup``        seeding, device choice, thread limits, plot style
"""

from utils.setup import current_device, current_seed, setup

#: Marks this package as the course's own ``utils`` (the setup cell checks it,
#: because ``utils`` is a common name and another package may shadow it).
COURSE = "vanishing-gradients"

__all__ = ["COURSE", "setup", "current_device", "current_seed"]
