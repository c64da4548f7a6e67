#!/usr/bin/perl
# metrics-lint.pl FILE [PREVIOUS] — checks FILE against the Prometheus
# text exposition format as node_exporter's textfile collector reads it
# (see the reference in man/ml-connector.7 and tests/1160): every line ends
# in a newline; HELP and TYPE at most once per name, TYPE before the
# name's first sample; a name's lines form one group; names and label
# names are valid, label values quoted with \\ \" \n escapes only; a
# sample's value is a float; no timestamps; no series twice; counters end
# in _total.  With PREVIOUS (an earlier file of the same job), no counter
# series is lower than it was there.  Prints "ok" or each problem, one a
# line, and exits 1 on any.
use strict;
use warnings;

my ($file, $prev) = @ARGV;
my @err;
my $name_re = qr/[a-zA-Z_:][a-zA-Z0-9_:]*/;

sub parse {
	my ($f, $errs) = @_;
	open(my $fh, '<', $f) or die "$f: $!\n";
	local $/;
	my $text = <$fh>;
	close $fh;
	my (%type, %help, %seen, %series, %done);
	my $cur = '';
	push @$errs, "$f: does not end in a newline" if length $text && $text !~ /\n\z/;
	my $n = 0;
	for my $l (split /\n/, $text) {
		$n++;
		next if $l =~ /^\s*$/;
		if ($l =~ /^#\s*(HELP|TYPE)\s+(\S+)(?:\s+(.*))?$/) {
			my ($kw, $name, $rest) = ($1, $2, $3 // '');
			push @$errs, "$f:$n: bad name $name" unless $name =~ /^$name_re$/;
			my $h = $kw eq 'HELP' ? \%help : \%type;
			push @$errs, "$f:$n: second $kw for $name" if $h->{$name}++;
			if ($kw eq 'TYPE') {
				push @$errs, "$f:$n: TYPE of $name after its samples" if $seen{$name};
				push @$errs, "$f:$n: unknown type $rest"
				    unless $rest =~ /^(counter|gauge|histogram|summary|untyped)$/;
				$type{"=$name"} = $rest;
				push @$errs, "$f:$n: counter $name does not end in _total"
				    if $rest eq 'counter' && $name !~ /_total$/;
			} else {
				push @$errs, "$f:$n: HELP of $name has a bad escape"
				    if $rest =~ /\\[^\\n]/;
			}
			if ($name ne $cur) {
				push @$errs, "$f:$n: ${name}'s lines are not one group" if $done{$name};
				$done{$cur} = 1 if $cur ne '';
				$cur = $name;
			}
			next;
		}
		next if $l =~ /^#/;
		unless ($l =~ /^($name_re)(\{(.*)\})?[ \t]+(\S+)(?:[ \t]+(\S+))?[ \t]*$/) {
			push @$errs, "$f:$n: not a sample: $l";
			next;
		}
		my ($name, $lbl, $v, $ts) = ($1, $3 // '', $4, $5);
		push @$errs, "$f:$n: a timestamp (textfiles take none)" if defined $ts;
		push @$errs, "$f:$n: bad value $v"
		    unless $v =~ /^([+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?|NaN|[+-]Inf)$/;
		if ($name ne $cur) {
			push @$errs, "$f:$n: ${name}'s lines are not one group" if $done{$name};
			$done{$cur} = 1 if $cur ne '';
			$cur = $name;
		}
		push @$errs, "$f:$n: sample of $name before its TYPE" unless $type{$name};
		$seen{$name} = 1;
		my @pairs;
		my $rest = $lbl;
		while (length $rest) {
			unless ($rest =~ s/^([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"(,|$)//) {
				push @$errs, "$f:$n: bad labels {$lbl}";
				last;
			}
			push @pairs, "$1=$2";
		}
		my $key = $name . '{' . join(',', sort @pairs) . '}';
		push @$errs, "$f:$n: series $key twice" if exists $series{$key};
		$series{$key} = [$v, $type{"=$name"} // 'untyped'];
	}
	return \%series;
}

my $now = parse($file, \@err);
if (defined $prev) {
	my $was = parse($prev, \@err);
	for my $k (sort keys %$was) {
		next unless $was->{$k}[1] eq 'counter';
		if (!exists $now->{$k}) {
			push @err, "$file: counter $k is gone";
		} elsif ($now->{$k}[0] < $was->{$k}[0]) {
			push @err, "$file: counter $k went down ($was->{$k}[0] -> $now->{$k}[0])";
		}
	}
}
print @err ? join("\n", @err) . "\n" : "ok\n";
exit(@err ? 1 : 0);
