#!/usr/bin/perl
# SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
# usage: abi/normalize-dump.pl IN_DUMP OUT_DUMP [BASELINE_DUMP TABLE...]
#
# Drop from an abi-dumper dump what describes a function's body rather than its interface,
# so that abi-compliance-checker compares only the ABI:
#   - Reg, and Param/offset: where the compiled body keeps each parameter (a register or a
#     stack slot in the callee's frame). At -Og these move when locals are added or
#     reordered; the calling convention itself follows from the types, which stay compared.
#   - Source, SourceLine, Line, Sources: which file and line a function is defined on.
#   - UndefinedSymbols, Needed: what the library imports, not what it offers.
#   - SymbolInfo entries of symbols the library does not export (see below).
# Types, sizes, offsets of struct fields, enum values, parameter and return types, symbol
# names and symbol versions are kept untouched.
#
# With BASELINE_DUMP, the named provider tables (the size-prefixed, append-only structs of
# vmmem/provider.h, docs/ABI.md) lose the members appended after the baseline's last one,
# but only when the baseline's members are an exact prefix (same names, offsets and type
# names, in order): growth at the end is what a minor release may do; any other change
# stays for abi-compliance-checker to report. The names of the tables so trimmed are
# printed on stdout, one per line.
use strict;
use warnings;
use Data::Dumper;

my ($in, $out) = @ARGV;
my ($base_file, @tables) = @ARGV[2 .. $#ARGV];
die "usage: $0 IN_DUMP OUT_DUMP [BASELINE_DUMP TABLE...]\n" unless defined $out;

my %TABLES = map { ("struct $_" => 1) } @tables;

sub load {
	my ($file) = @_;
	our $VAR1;
	my $text = do {
		local $/;
		open(my $fh, '<', $file) or die "$file: $!\n";
		<$fh>;
	};
	eval $text;
	die "$file: not an abi-dumper dump: $@\n" if $@ || ref($VAR1) ne 'HASH';
	return $VAR1;
}

my $VAR1 = load($in);

sub type_name {
	my ($dump, $id) = @_;
	my $t = $dump->{TypeInfo}{$id};
	return defined $t && defined $t->{Name} ? $t->{Name} : "?$id";
}

sub tables_by_name {
	my ($dump) = @_;
	my %by;
	for my $t (values %{ $dump->{TypeInfo} || {} }) {
		$by{ $t->{Name} } = $t if defined $t->{Name} && $TABLES{ $t->{Name} };
	}
	return \%by;
}

if (defined $base_file) {
	my $base = load($base_file);
	my $old = tables_by_name($base);
	my $new = tables_by_name($VAR1);
	for my $name (sort keys %$new) {
		my ($o, $n) = ($old->{$name}, $new->{$name});
		next unless $o;
		my $no = scalar keys %{ $o->{Memb} || {} };
		my $nn = scalar keys %{ $n->{Memb} || {} };
		next unless $nn > $no;
		my $prefix = 1;
		for my $i (0 .. $no - 1) {
			my ($a, $b) = ($o->{Memb}{$i}, $n->{Memb}{$i});
			$prefix = 0
				unless $b && $a->{name} eq $b->{name} && $a->{offset} eq $b->{offset} &&
				type_name($base, $a->{type}) eq type_name($VAR1, $b->{type});
		}
		next unless $prefix;
		delete $n->{Memb}{$_} for $no .. $nn - 1;
		$n->{Size} = $o->{Size};
		(my $bare = $name) =~ s/^struct //;
		print "$bare\n"; # check.sh lets abidiff pass this growth too
	}
}

# Only what the library exports: abi-dumper matches public headers by file name, so an
# internal header of the same name (core/atomic.h beside vmmem/atomic.h) brings in the
# library's hidden variables (the per-thread section hint, say) and their struct types,
# whose layout is the library's own business.
my %exported;
for my $lib (values %{ $VAR1->{Symbols} || {} }) {
	for my $name (keys %$lib) {
		(my $bare = $name) =~ s/@.*//;
		$exported{$bare} = 1;
	}
}
for my $id (keys %{ $VAR1->{SymbolInfo} || {} }) {
	my $sym = $VAR1->{SymbolInfo}{$id};
	my $name = $sym->{MnglName} // $sym->{ShortName} // '';
	$name =~ s/@.*//;
	delete $VAR1->{SymbolInfo}{$id} unless $exported{$name};
}

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
