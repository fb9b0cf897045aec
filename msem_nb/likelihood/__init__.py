"""Log-likelihoods and their gradients, one module per data situation."""
