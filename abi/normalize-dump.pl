#!/usr/bin/perl
# SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
# usage: abi/normalize-dump.pl IN_DUMP OUT_DUMP
#
# Drop from an abi-dumper dump what describes a function's body rather than its interface,
# so that abi-compliance-checker compares only the ABI:
#   - Reg, and Param/offset: where the compiled body keeps each parameter (a register or a
#     stack slot in the callee's frame). At -Og these move when locals are added or
#     reordered; the calling convention itself follows from the types, which stay compared.
#   - Source, SourceLine, Line, Sources: which file and line a function is defined on.
#   - UndefinedSymbols, Needed: what the library imports, not what it offers.
# Types, sizes, offsets of struct fields, enum values, parameter and return types, symbol
# names and symbol versions are kept untouched.
use strict;
use warnings;
use Data::Dumper;

my ($in, $out) = @ARGV;
die "usage: $0 IN_DUMP OUT_DUMP\n" unless defined $out;

our $VAR1;
my $text = do {
	local $/;
	open(my $fh, '<', $in) or die "$in: $!\n";
	<$fh>;
};
eval $text;
die "$in: not an abi-dumper dump: $@\n" if $@ || ref($VAR1) ne 'HASH';

for my $sym (values %{ $VAR1->{SymbolInfo} || {} }) {
	delete @{$sym}{qw(Reg Source SourceLine Line)};
	delete $_->{offset} for values %{ $sym->{Param} || {} };
}
delete @{$VAR1}{qw(Sources UndefinedSymbols Needed)};

local $Data::Dumper::Sortkeys = 1;
local $Data::Dumper::Indent = 1;
open(my $fh, '>', $out) or die "$out: $!\n";
print $fh Dumper($VAR1);
close($fh) or die "$out: $!\n";
