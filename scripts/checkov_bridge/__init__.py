"""checkov on Pulumi plans: checkov has no Pulumi framework, so a preview is converted to the
Terraform plan JSON it reads (`tfplan`), scanned from checkov's own venv, and each result mapped back
to its Pulumi URN as a Finding (`scan`)."""
