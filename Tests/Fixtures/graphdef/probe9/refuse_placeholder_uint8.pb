
.
xPlaceholder*
dtype0*
shape:

outIdentityx*
T0"ª