"""3-D volume handling: physical-space alignment, the check that two volumes look registered, windowing, slice extraction and resizing."""
