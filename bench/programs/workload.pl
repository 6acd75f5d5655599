# Perl workload for bench/compare --programs: hashes and regular
# expressions over generated text; deterministic output (keys are sorted;
# run with PERL_HASH_SEED=0). ARGV[0]: scale.
use strict;
use warnings;

my $scale = $ARGV[0];
my $x = 12345;
sub rnd { $x = ($x * 1103515245 + 12345) % 2147483648; return $x; }
my @syll = qw(ka lo mi ne ru sa ti vo we xu ya zo);
my $total = 0;
for my $r (1 .. $scale) {
    my %h;
    my @lines;
    for my $i (1 .. 20000) {
        my $w = join '', map { $syll[rnd() % 12] } 1 .. (rnd() % 6 + 1);
        my $line = "$i: $w=" . (rnd() % 100000) . " tag<" . $syll[rnd() % 12] . ">";
        push @lines, $line;
        $h{$w}{count}++;
        push @{ $h{$w}{ids} }, $i;
    }
    for my $line (@lines) {
        if ($line =~ /^(\d+): (\w+)=(\d+) tag<(\w+)>$/) {
            $total += $3 % 97 if $4 eq 'ka' || $2 =~ /(?:lo|mi){2}/;
        }
        (my $t = $line) =~ s/([aeiou])/uc $1/ge;
        $total += length $t;
    }
    for my $k (sort keys %h) {
        $total += $h{$k}{count} * scalar @{ $h{$k}{ids} };
    }
    my $joined = join "\n", @lines;
    my @m = $joined =~ /=(\d{5})\b/g;
    $total += scalar @m;
}
print "$total\n";
