#!/usr/bin/perl
# tests/optlint.pl — do a program's --help, its man page's SYNOPSIS and the
# options it really accepts agree?  Used by tests/0011-options.t.
#
# usage: optlint.pl PROGRAM MANPAGE HELPFILE [SOURCE]
#
# Every list is derived mechanically:
#   SYNOPSIS  the .Fl words between .Sh SYNOPSIS and the next .Sh, split into
#             forms at each .Nm.  .Fl nv is the bundle -n -v.  An .Ar or .Cm
#             right after a flag, on its line, is the flag's argument (an
#             operand goes on an .Ar line of its own).  A .Cm line names a
#             command: the form's key and the probes' context; without one,
#             a form's first required long flag (.Fl -join) is its key.
#   aliases   an ".It Fl X [Ar a] , Fl \-long [Ar a]" item: one short and
#             one long name with the same argument.
#   --help    every -x / --long token of the text.  Its "usage:" lines, and
#             lines naming a command ("  init [--passphrase]  ..."), are
#             forms, keyed like the SYNOPSIS' forms; a form that says
#             "[options]" has the first form's too.
#   source    a C program's getopt/getopt_long option strings and struct
#             option names, or a shell script's case patterns (-x) and --y)).
#   accepted  probed: PROGRAM [COMMAND...] OPTION [1] --mlc-lint-probe, and
#             the attached forms -x1 and --long=1.  A parser reads options in
#             order, so an accepted OPTION lets it reach the sentinel and
#             report that as the unknown option (exit 64); an unknown OPTION
#             is reported instead, and an OPTION that takes an argument the
#             SYNOPSIS does not show swallows the sentinel.  The sentinel
#             alone is probed first in each command that has options (and
#             without a command), to show that it is reported there.  Probes run with stdin from /dev/null in a
#             scratch HOME and state directory ($T), and stop at the options:
#             nothing is read, sent or written by them.
#
# The checks: SYNOPSIS = --help (aliases aside); each SYNOPSIS form's options
# are in --help's form of the same key; every option an .It item describes
# is in the SYNOPSIS; every option the source accepts is documented; every
# command with options names an unknown one; every SYNOPSIS option is accepted.
#
# -h, --help and --version are every program's (mlc_util_std_args; the
# --help and --version tests of tests/0010-lint.t) and are left out.
#
# Output: "PASS desc" or "FAIL desc" lines, each followed by "# detail" lines.
use strict;
use warnings;
use File::Path qw(make_path);

my ($prog, $man, $helpfile, $src) = @ARGV;
die "usage: optlint.pl PROGRAM MANPAGE HELPFILE [SOURCE]\n" unless defined $helpfile;
(my $name = $prog) =~ s{.*/}{};
my $SENT = '--mlc-lint-probe';
my %universal = map { $_ => 1 } qw(-h --help --version);

sub result {
	my ($desc, @bad) = @_;
	print @bad ? "FAIL $desc\n" : "PASS $desc\n";
	print "#   $_\n" for @bad;
}

sub slurp {
	my ($f) = @_;
	open my $fh, '<', $f or die "$f: $!\n";
	local $/;
	my $s = <$fh>;
	close $fh;
	return $s;
}

# ---- the man page ----------------------------------------------------------

my %MACRO = map { $_ => 1 } qw(Op Oo Oc Fl Ar Cm Nm Ns Pa Ic Ev Li Sy Em No Xo Xc
	Brq Bro Brc Bq Bo Bc Dq Sq Pq Ql Ek Va Dv Xr It);
my %DELIM = map { $_ => 1 } ('|', '[', ']', '(', ')', '.', ',', ';', ':', '...');

sub words {
	my ($line) = @_;
	my @w;
	while ($line =~ /\G\s*("((?:[^"]|"")*)"|\S+)/gc) {
		push @w, defined $2 ? $2 : $1;
	}
	return @w;
}

sub flag_names {
	my ($w) = @_;
	$w =~ s/\\-/-/g;
	$w =~ s/\\&//g;
	return () if $w eq '' || $w eq '-';
	return ("-$w") if $w =~ /^-/;          # .Fl -rule: --rule
	return ("-$w") if length $w == 1;      # .Fl r: -r
	return ("-$w", map { "-$_" } split //, $w); # .Fl nv: -nv, -n, -v
}

my $mantext = slurp($man);
my @manlines = split /\n/, $mantext;

# forms: { keys => [..], ctx => [command words], cmdseen,
#          opts => [ { name, arg (the probe's value), ctx, pre (before the
#                      command: global), bundle (-nv as written) } ] }
my @forms;
{
	my $in = 0;
	my $f;
	for my $l (@manlines) {
		if ($l =~ /^\.Sh\s+SYNOPSIS/) { $in = 1; next; }
		next unless $in;
		last if $l =~ /^\.Sh\b/;
		next unless $l =~ /^\.(.*)/;
		my @w = words($1);
		next unless @w;
		if ($w[0] eq 'Nm') {
			$f = { keys => undef, opts => [], ctx => [], cmdseen => 0 };
			push @forms, $f;
			next;
		}
		next unless $f;
		my $first = $w[0];
		my $m = '';
		my $last;          # the last flag of this line, waiting for its argument
		my $argnext = 0;   # the token after a flag word
		my @opctx;         # command words since the last | on an optional line
		my @alts;          # a required .Cm line: its alternatives
		my @alt = ();
		for (my $i = 0; $i < @w; $i++) {
			my $t = $w[$i];
			if ($MACRO{$t}) {
				if (($t eq 'Ar' || $t eq 'Cm') && $argnext && $last) {
					my $v = $w[$i + 1];
					$last->{arg} = ($t eq 'Cm' && defined $v && !$MACRO{$v} && !$DELIM{$v})
						? $v : '1';
					$m = 'arg';
					$argnext = 0;
					next;
				}
				$m = $t;
				$argnext = 0;
				$last = undef;
				next;
			}
			if ($DELIM{$t}) {
				if ($t eq '|') {
					@opctx = ();
					if ($first eq 'Cm') { push @alts, [@alt]; @alt = (); }
				}
				$argnext = 0;
				next;
			}
			if ($m eq 'Fl') {
				my @n = flag_names($t);
				next unless @n;
				my @ctx = (@{$f->{ctx}}, ($first eq 'Op' || $first eq 'Oo') ? @opctx : ());
				for my $n (@n) {
					my $o = { name => $n, arg => undef, ctx => \@ctx, pre => !$f->{cmdseen},
					          bundle => (length($n) > 2 && $n !~ /^--/) };
					push @{$f->{opts}}, $o;
					$last = $o if $n eq $n[0];
				}
				$argnext = 1;
				next;
			}
			if ($m eq 'Cm') {
				if ($first eq 'Cm') {
					push @alt, $t;
				} else {
					push @opctx, $t;
				}
			}
			$argnext = 0;
		}
		if ($first eq 'Cm') {
			push @alts, [@alt] if @alt;
			if (!$f->{cmdseen} && !defined $f->{keys}) {
				$f->{keys} = [map { $_->[0] } grep { @$_ } @alts];
			}
			push @{$f->{ctx}}, @{$alts[0]} if @alts;
			$f->{cmdseen} = 1;
		} elsif ($first eq 'Fl' && !defined $f->{keys} && !$f->{cmdseen}) {
			my ($long) = grep { $_->{name} =~ /^--/ } @{$f->{opts}};
			$f->{keys} = [$long->{name}] if $long;
		}
	}
	for my $f (@forms) {
		$f->{keys} = [''] unless defined $f->{keys};
		# "global" means before a command: a form without one has none
		if (!$f->{cmdseen}) {
			$_->{pre} = 0 for @{$f->{opts}};
		}
	}
}

if ($ENV{OPTLINT_DEBUG}) {
	for my $f (@forms) {
		print STDERR "form [@{$f->{keys}}]:";
		print STDERR " ", ($_->{pre} ? '^' : ''), $_->{name}, (defined $_->{arg} ? "=$_->{arg}" : ''),
			(@{$_->{ctx}} && !$_->{pre} ? "{@{$_->{ctx}}}" : '') for @{$f->{opts}};
		print STDERR "\n";
	}
}

# aliases from .It items: Fl x [Ar a] , Fl \-long [Ar a]
my %alias;    # name => [other names]
my %described;
{
	my $in_syn = 0;
	for my $l (@manlines) {
		if ($l =~ /^\.Sh\s+(\S+)/) { $in_syn = $1 eq 'SYNOPSIS'; next; }
		next if $in_syn;
		next unless $l =~ /^\.It\s+(.*)/;
		my @w = words($1);
		next unless @w && $w[0] eq 'Fl';
		# the options an item describes: its leading Fl words (Fl x Ar a Fl y ...)
		my (@items, $cur);
		for (my $i = 0; $i < @w; $i++) {
			if ($w[$i] eq 'Fl') {
				my @n = flag_names($w[$i + 1] // '');
				last unless @n;
				$cur = { name => $n[0], letters => [@n[1 .. $#n]], arg => '', sep => '' };
				push @items, $cur;
				$i++;
			} elsif ($w[$i] eq 'Ar' && $cur) {
				$cur->{arg} = $w[$i + 1] // '';
				$i++;
			} elsif ($w[$i] eq ',' && $cur) {
				$cur->{sep} = ',';
			} elsif ($w[$i] eq 'Cm' || $w[$i] eq '|') {
				$i++ while $i + 1 < @w && $w[$i + 1] ne 'Fl';
			} else {
				last;
			}
		}
		for my $it (@items) {
			$described{$it->{name}} = 1;
			$described{$_} = 1 for @{$it->{letters}};
		}
		if (@items == 2 && $items[0]{sep} eq ',' && $items[0]{arg} eq $items[1]{arg}) {
			my ($a, $b) = map { $_->{name} } @items;
			if (($a =~ /^-[^-]$/) != ($b =~ /^-[^-]$/)) {
				push @{$alias{$a}}, $b;
				push @{$alias{$b}}, $a;
			}
		}
	}
}

my %syn;      # every SYNOPSIS option
for my $f (@forms) {
	$syn{$_->{name}} = 1 for grep { !$_->{bundle} } @{$f->{opts}};
}
delete $syn{$_} for keys %universal;
my %documented = %syn;
for my $n (keys %syn) {
	$documented{$_} = 1 for @{$alias{$n} || []};
}

# ---- --help ---------------------------------------------------------------

my $help = slurp($helpfile);
my @helplines = split /\n/, $help;

sub opt_tokens {
	my ($s) = @_;
	my @o;
	while ($s =~ /(?<![\w-])(--?[A-Za-z][\w-]*)/g) {
		my $t = $1;
		if ($t =~ /^-([^-].+)$/) {
			push @o, map { "-$_" } split //, $1;
		} else {
			push @o, $t;
		}
	}
	return @o;
}

sub help_key {
	my ($s) = @_;
	my $depth = 0;
	my @req;
	for my $t (split /\s+/, $s) {
		next if $t eq '';
		my $opens = () = $t =~ /\[/g;
		my $closes = () = $t =~ /\]/g;
		(my $bare = $t) =~ s/[\[\]]//g;
		push @req, $bare if $depth == 0 && $opens == 0 && $bare ne '' && $bare ne '|';
		$depth += $opens - $closes;
	}
	return '' unless @req;
	(my $cmd = $req[0]) =~ s/\|.*//;
	return $cmd if $cmd =~ /^[a-z][a-z0-9-]*$/;
	my ($long) = grep { /^--[a-z]/ } @req;
	return $long // '';
}

my %help;      # every option of the text
my %hform;     # key => { opt => 1 }
my %hall;      # key => 1 when the form says "[options]"
my %halias;
{
	my $curkey;    # the form continuation lines belong to
	for my $l (@helplines) {
		$help{$_} = 1 for opt_tokens($l);
		while ($l =~ /(?<![\w-])(-[A-Za-z]),\s+(--[A-Za-z][\w-]*)/g) {
			push @{$halias{$1}}, $2;
			push @{$halias{$2}}, $1;
		}
		my $body;
		if ($l =~ /^usage:\s+\Q$name\E\b(.*)/ || $l =~ /^\s+\Q$name\E\b(.*)/) {
			$body = $1;
			$curkey = help_key($body);
		} elsif ($l =~ /^  ([a-z][a-z0-9-]*)\b(.*)/) {
			$body = "$1$2";
			$curkey = $1;
		} elsif ($l =~ /^\s{4,}\S/ && defined $curkey) {
			$body = $l;
		} else {
			$curkey = undef;
			next;
		}
		$hform{$curkey}{$_} = 1 for opt_tokens($body);
		$hall{$curkey} = 1 if $body =~ /\[options\]/;
	}
}
delete $help{$_} for keys %universal;

# ---- the checks -----------------------------------------------------------

my $page = $man;
$page =~ s{.*/}{};

{
	my @bad = map { "$_ is in $page SYNOPSIS, not in --help" }
		grep { !$help{$_} } sort keys %syn;
	result("$name: every SYNOPSIS option is in --help", @bad);
}
{
	my @bad;
	for my $o (sort keys %help) {
		next if $syn{$o};
		next if grep { $syn{$_} } @{$alias{$o} || []};
		push @bad, "$o is in --help, not in $page SYNOPSIS"
			. ((grep { $syn{$_} } @{$halias{$o} || []})
			   ? " (--help makes it an alias: say so in an .It Fl x , Fl \\-long item)" : '');
	}
	result("$name: every --help option is in the SYNOPSIS", @bad);
}
{
	my @bad = map { "$page describes $_ (.It Fl), its SYNOPSIS does not show it" }
		grep { !$documented{$_} && !$universal{$_} } sort keys %described;
	result("$name: every option $page describes is in its SYNOPSIS", @bad);
}
{
	my @bad;
	for my $f (@forms) {
		for my $k (@{$f->{keys}}) {
			next unless $hform{$k};
			my %h = %{$hform{$k}};
			if ($hall{$k}) {
				%h = (%h, %{$hform{''} || {}});
			}
			for my $o (@{$f->{opts}}) {
				next if $o->{bundle} || $universal{$o->{name}};
				next if $h{$o->{name}};
				next if $o->{pre} && $hform{''} && $hform{''}{$o->{name}};
				push @bad, "$page: $name " . ($k eq '' ? '' : "$k ") .
					"shows $o->{name}; --help's form of it does not";
			}
		}
	}
	my %seen;
	result("$name: each form of the SYNOPSIS agrees with --help's", grep { !$seen{$_}++ } @bad);
}

if (defined $src && -f $src) {
	my $s = slurp($src);
	my %acc;
	if ($src =~ /\.c$/) {
		while ($s =~ /\bgetopt(?:_long)?\s*\(\s*\w+\s*,\s*\w+\s*,\s*"([^"]*)"/g) {
			(my $str = $1) =~ s/^[+-]//;
			$str =~ s/://g;
			$acc{"-$_"} = 1 for split //, $str;
		}
		while ($s =~ /struct\s+option\s+\w+\s*\[\s*\]\s*=\s*\{(.*?)\n\s*\};/sg) {
			my $tab = $1;
			$acc{"--$1"} = 1 while $tab =~ /\{\s*"([^"]+)"\s*,/g;
		}
	} else {
		while ($s =~ /^\s*([-|\w*?= ]+)\)/mg) {
			for my $p (split /\s*\|\s*/, $1) {
				$acc{$p} = 1 if $p =~ /^--?[A-Za-z][\w-]*$/;
			}
		}
	}
	delete $acc{$_} for keys %universal;
	print STDERR "accepted: @{[sort keys %acc]}\n" if $ENV{OPTLINT_DEBUG};
	my @bad = map { "$src accepts $_; $page does not document it" }
		grep { !$documented{$_} } sort keys %acc;
	result("$name: every option $src accepts is documented", @bad);
} else {
	print "SKIP $name: no source file to read options from\n";
}

# ---- probes ---------------------------------------------------------------

my $T = $ENV{T} or die "optlint.pl: \$T is not set\n";
my $box = "$T/optlint-$name";
make_path(map { "$box/$_" } qw(home state rules cwd));
# "1", an option's probe value, is a number and, relative to the probe's
# working directory, a readable file holding "1" (for options that read
# their file while the options are read)
{
	open my $one, '>', "$box/cwd/1" or die "$box/cwd/1: $!\n";
	print $one "1\n";
	close $one;
}
my %env = (
	HOME => "$box/home",
	XDG_CONFIG_HOME => "$box/home/.config",
	XDG_STATE_HOME => "$box/home/.local/state",
	ML_CONNECTOR_CONF => "$box/home/none.conf",
	ML_CONNECTOR_STATE => "$box/state",
	ML_CONNECTOR_RULES => "$box/rules",
	TMPDIR => $box,
);

sub probe {
	my (@argv) = @_;
	my $err = "$box/stderr";
	my $pid = fork // die "fork: $!\n";
	if ($pid == 0) {
		$ENV{$_} = $env{$_} for keys %env;
		delete $ENV{ML_CONNECTOR_RUN_ID};
		chdir "$box/cwd" or exit 127;
		open STDIN, '<', '/dev/null' or exit 127;
		open STDOUT, '>', '/dev/null' or exit 127;
		open STDERR, '>', $err or exit 127;
		exec 'timeout', '-k', '5', '60', $prog, @argv;
		exit 127;
	}
	waitpid $pid, 0;
	my $rc = $? >> 8;
	my $e = -f $err ? slurp($err) : '';
	return ($rc, $e);
}

sub sentinel_seen {
	my ($rc, $e) = @_;
	return $rc == 64 && $e =~ /(?:unrecognized|unknown|invalid) (?:option|command)[^\n]*\Q$SENT\E/;
}

# A value checked while the options are read ("-R: bad value", "--fault 1:
# unknown fault") ends the run there, before the sentinel, with a message
# naming the option: it was known.  Not when the sentinel is the value: the
# option took an argument the SYNOPSIS does not show.
sub value_refused {
	my ($rc, $e, $n) = @_;
	return $rc > 0 && $rc < 124 && $e !~ /\Q$SENT\E/ && $e =~ /(?<![\w-])\Q$n\E(?![\w-])/
		&& $e !~ /(?:unrecognized|unknown|invalid) option|requires an argument|doesn't allow/;
}

sub show { join ' ', map { /^[\w.\/=,+:-]+$/ ? $_ : "'$_'" } @_ }

my (%control, %done, @bad);
my @cbad;
sub control {
	my (@ctx) = @_;
	my $c = join ' ', @ctx;
	if (!exists $control{$c}) {
		my ($rc, $e) = probe(@ctx, $SENT);
		$control{$c} = sentinel_seen($rc, $e);
		push @cbad, "\"" . show($name, @ctx, $SENT) . "\" exits $rc without naming $SENT "
			. "as unknown: " . ((split /\n/, $e)[0] // '') unless $control{$c};
	}
	return $control{$c};
}
# every command with options of its own names an unknown one, under each of
# its names (.Cm a | b); in a command without options every word after it
# may be an operand (mlc-rule path -rf: a bad rule name)
for my $f (@forms) {
	next unless $f->{cmdseen} && grep { !$_->{pre} } @{$f->{opts}};
	my @rest = @{$f->{ctx}}[1 .. $#{$f->{ctx}}];
	control($_, @rest) for grep { $_ ne '' } @{$f->{keys}};
}
for my $f (@forms) {
	for my $o (@{$f->{opts}}) {
		next if $universal{$o->{name}};
		my @ctx = $o->{pre} ? () : @{$o->{ctx}};
		next unless control(@ctx);
		my @names = ($o->{name}, grep { !$syn{$_} } @{$alias{$o->{name}} || []});
		for my $n (@names) {
			my @tries;
			if (defined $o->{arg}) {
				push @tries, [$n, $o->{arg}];
				push @tries, [$n =~ /^--/ ? "$n=$o->{arg}" : "$n$o->{arg}"];
			} else {
				push @tries, [$n];
			}
			for my $t (@tries) {
				my @argv = (@ctx, @$t, $SENT);
				next if $done{"@argv"}++;
				my ($rc, $e) = probe(@argv);
				next if sentinel_seen($rc, $e) || value_refused($rc, $e, $n);
				my $first = (split /\n/, $e)[0] // '';
				push @bad, "\"" . show($name, @argv) . "\": exit $rc, $first";
			}
		}
	}
}
result("$name: an unknown option is reported by name in each command", @cbad);
result("$name: every SYNOPSIS option is accepted (also -xARG, --long=ARG)", @bad);
