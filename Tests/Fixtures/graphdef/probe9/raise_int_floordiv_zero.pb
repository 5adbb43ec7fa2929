
7
xPlaceholder*
dtype0*
shape:ÿÿÿÿÿÿÿÿÿ
7
yPlaceholder*
dtype0*
shape:ÿÿÿÿÿÿÿÿÿ
#
floordivFloorDivxy*
T0
"
outIdentityfloordiv*
T0"ª