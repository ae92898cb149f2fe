"""Reading and writing images and volumes through SimpleITK."""
