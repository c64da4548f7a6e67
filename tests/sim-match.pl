#!/usr/bin/perl
# sim-match.pl — compare what a program sent (or printed) with what a
# tests/sim/ scenario expects (tests/0520-sim-scenarios.t).
#
# usage: perl tests/sim-match.pl EXPECTED GOT [LABEL]
#
# Both files hold JSON values, one after another (whitespace between); the
# Nth expected value is compared with the Nth one got, and the counts must
# agree.  Prints one line per difference, naming where it is (LABEL, by
# default "value", its number and the path: "request 2.headers.accept:
# expected ..."); exit 0 when there is none, 1 otherwise.
#
# An expected string is matched whole, and may hold placeholders for what
# varies from run to run:
#   @ANY@     any text, even none      @DIGITS@  one or more digits
#   @TIME@    an RFC 3339 UTC time     @HEX@     hex digits
#   @SID@     a Twilio message SID     @B64@     base64 text
#   @=NAME@   any text the first time, then the same text wherever it
#             appears again in the scenario (a token sent back, a SID)
# @ANY@ alone matches any value but absent.  The members an expected value
# (a request) names are compared; below it, an expected object has exactly
# the got object's keys, except "headers":
# there the names are compared without case, only the headers named are
# compared, and a null value says the header must be absent.  An expected
# body that is not a string is compared with the got body parsed as JSON.
use strict;
use warnings;
use JSON::PP;

my %bound;
my @diffs;

sub slurp_values {
	my ($path) = @_;
	open my $fh, '<', $path or die "sim-match: $path: $!\n";
	local $/;
	my $text = <$fh>;
	close $fh;
	my $json = JSON::PP->new->allow_nonref;
	my @v;
	$text =~ s/^\s+//;
	while (length $text) {
		my ($v, $n) = eval { $json->decode_prefix($text) };
		die "sim-match: $path: not JSON: $@" unless defined $n;
		push @v, $v;
		$text = substr($text, $n);
		$text =~ s/^\s+//;
	}
	return @v;
}

sub show {
	my ($v) = @_;
	return 'absent' unless defined $v;
	my $s = JSON::PP->new->canonical->allow_nonref->encode($v);
	return length $s > 300 ? substr($s, 0, 300) . '...' : $s;
}

my %class = (
	ANY    => '.*',
	DIGITS => '[0-9]+',
	HEX    => '[0-9a-fA-F]+',
	B64    => '[A-Za-z0-9+/]+=*',
	SID    => 'SM[0-9a-f]{32}',
	TIME   => '[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]+)?Z',
);

# The regex of an expected string, and the names it binds in order.
sub pattern {
	my ($e) = @_;
	my ($re, @names) = ('');
	for my $part (split /(\@=?[A-Z][A-Z0-9_]*\@)/, $e) {
		if ($part =~ /^\@=([A-Z][A-Z0-9_]*)\@$/) {
			if (exists $bound{$1}) {
				$re .= quotemeta $bound{$1};
			} else {
				$re .= '(.+?)';
				push @names, $1;
			}
		} elsif ($part =~ /^\@([A-Z][A-Z0-9_]*)\@$/ && $class{$1}) {
			$re .= "(?:$class{$1})";
		} else {
			$re .= quotemeta $part;
		}
	}
	return ($re, @names);
}

sub match_string {
	my ($e, $g, $where) = @_;
	return if $e eq '@ANY@' && defined $g;
	if (!defined $g || ref $g || show($g) !~ /^"/) {
		push @diffs, "$where: expected " . show($e) . ", got " . show($g);
		return;
	}
	my ($re, @names) = pattern($e);
	my @caps = $g =~ /^$re$/s;
	if (!@caps && $g !~ /^$re$/s) {
		push @diffs, "$where: expected " . show($e) . ", got " . show($g);
		return;
	}
	@bound{@names} = @caps if @names;
}

sub match {
	my ($e, $g, $where, $top) = @_;
	if (!defined $e) {
		push @diffs, "$where: expected null, got " . show($g) if defined $g;
	} elsif (JSON::PP::is_bool($e)) {
		push @diffs, "$where: expected " . show($e) . ", got " . show($g)
			unless JSON::PP::is_bool($g) && $e == $g;
	} elsif (ref $e eq 'HASH') {
		if (ref $g ne 'HASH') {
			push @diffs, "$where: expected an object, got " . show($g);
			return;
		}
		for my $k (sort keys %$e) {
			if ($k eq 'headers' && ref $e->{$k} eq 'HASH' && ref $g->{$k} eq 'HASH') {
				my %gh = map { lc($_) => $g->{$k}{$_} } keys %{ $g->{$k} };
				for my $h (sort keys %{ $e->{$k} }) {
					my $want = $e->{$k}{$h};
					if (!defined $want) {
						push @diffs, "$where.headers.$h: expected absent, got " . show($gh{lc $h})
							if exists $gh{lc $h};
					} else {
						match_string($want, $gh{lc $h}, "$where.headers.$h");
					}
				}
				next;
			}
			if (!exists $g->{$k}) {
				push @diffs, "$where.$k: expected " . show($e->{$k}) . ", got absent";
				next;
			}
			my $gv = $g->{$k};
			if ($k eq 'body' && ref $e->{$k} && defined $gv && !ref $gv) {
				$gv = eval { JSON::PP->new->allow_nonref->decode($gv) };
				if (!defined $gv) {
					push @diffs, "$where.body: expected JSON, got " . show($g->{$k});
					next;
				}
			}
			match($e->{$k}, $gv, "$where.$k");
		}
		return if $top;
		for my $k (sort keys %$g) {
			push @diffs, "$where.$k: not expected, got " . show($g->{$k}) unless exists $e->{$k};
		}
	} elsif (ref $e eq 'ARRAY') {
		if (ref $g ne 'ARRAY' || @$g != @$e) {
			push @diffs, "$where: expected " . show($e) . ", got " . show($g);
			return;
		}
		match($e->[$_], $g->[$_], "$where\[$_]") for 0 .. $#$e;
	} elsif (show($e) !~ /^"/) {
		# a number: the same number, not a string of its digits
		push @diffs, "$where: expected " . show($e) . ", got " . show($g) unless show($g) eq show($e);
	} else {
		match_string($e, $g, $where);
	}
}

@ARGV == 2 || @ARGV == 3 or die "usage: perl tests/sim-match.pl EXPECTED GOT [LABEL]\n";
my $label = $ARGV[2] // 'value';
my @want = slurp_values($ARGV[0]);
my @got = slurp_values($ARGV[1]);
for my $i (0 .. $#want) {
	my $n = $i + 1;
	if ($i > $#got) {
		push @diffs, "$label $n: expected " . show($want[$i]) . ", got nothing";
		next;
	}
	match($want[$i], $got[$i], "$label $n", 1);
}
push @diffs, "$label $_: not expected, got " . show($got[$_ - 1]) for @want + 1 .. @got;
print "$_\n" for @diffs;
exit(@diffs ? 1 : 0);
