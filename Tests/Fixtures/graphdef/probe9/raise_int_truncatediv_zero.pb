
7
xPlaceholder*
dtype0*
shape:ÿÿÿÿÿÿÿÿÿ
7
yPlaceholder*
dtype0*
shape:ÿÿÿÿÿÿÿÿÿ
)
truncatedivTruncateDivxy*
T0
%
outIdentitytruncatediv*
T0"ª