"""3-D volume handling: physical-space alignment, windowing, slice extraction and resizing."""
