; Paging (32-bit, 4 KiB and 4 MiB pages): translation, #PF error codes and
; CR2, CR0.WP, user/supervisor checks, accessed and dirty flags, INVLPG
; (SDM vol. 3 ch. 4). Needs CR4 (Pentium and later).
%include "harness.inc"

PD      equ 0x20000
PT      equ 0x21000
P       equ 1
RW      equ 2
US      equ 4
PS      equ 0x80
A_BIT   equ 0x20
D_BIT   equ 0x40

test_main:
    mov esi, s_hello
    call print

    ; Identity-map 0-4 MiB with user, writable 4 KiB pages.
    IDENTITY_PAGE_TABLE PT
    mov dword [PT + 0x30 * 4], 0x30000 | P | US          ; read-only
    mov dword [PT + 0x31 * 4], 0x31000 | P | RW          ; supervisor only
    mov dword [PT + 0x32 * 4], 0                         ; not present
    mov dword [PT + 0x33 * 4], 0x34000 | P | RW | US     ; remapped
    mov dword [PT + 0x40 * 4], 0x40000 | P | RW | US     ; A and D clear
    ; Page directory: the table, then two 4 MiB pages.
    mov edi, PD
    mov ecx, 1024
    xor eax, eax
    rep stosd
    mov dword [PD + 0], PT | P | RW | US
    mov dword [PD + 4], 0x800000 | PS | P | RW          ; 4-8 MiB -> 8 MiB
    mov dword [PD + 8], 0x800000 | PS | P | RW          ; 8-12 MiB identity
    mov dword [0x34000], 0x34343434
    mov dword [0x35000], 0x35353535

    mov eax, cr4
    or eax, 1 << 4                                       ; PSE
    mov cr4, eax
    mov eax, PD
    mov cr3, eax
    mov eax, cr0
    or eax, 1 << 31
    mov cr0, eax

    BEGIN_EXPECT
    mov dword [0x50000], 0x12345678
    mov eax, [0x50000]
    END_EXPECT NO_FAULT, NO_FAULT, "paging on: identity-mapped access"

    mov eax, [0x33000]
    cmp eax, 0x34343434
    CHECK "a remapped page reads its physical frame"

    BEGIN_EXPECT
    mov dword [0x30000], 1
    END_EXPECT NO_FAULT, NO_FAULT, "CR0.WP=0: supervisor write to a read-only page"

    mov eax, cr0
    or eax, 1 << 16
    mov cr0, eax
    BEGIN_EXPECT
    mov dword [0x30004], 1
    END_EXPECT 14, 3, "CR0.WP=1: supervisor write to read-only: #PF(P|W)"
    mov eax, cr2
    cmp eax, 0x30004
    CHECK "CR2 holds the faulting address"

    BEGIN_EXPECT
    mov eax, [0x32010]
    END_EXPECT 14, 0, "read of a not-present page: #PF(0)"
    mov eax, cr2
    cmp eax, 0x32010
    CHECK "CR2 for the not-present page"

    BEGIN_EXPECT
    TO_RING3 r3_read_super
    END_EXPECT 14, 5, "CPL 3 read of a supervisor page: #PF(P|U)"

    BEGIN_EXPECT
    TO_RING3 r3_write_ro
    END_EXPECT 14, 7, "CPL 3 write of a read-only page: #PF(P|W|U)"

    BEGIN_EXPECT
    TO_RING3 r3_write_ok
    END_EXPECT 0x30, NO_FAULT, "CPL 3 write of a user page"

    ; Accessed and dirty flags.
    mov eax, [0x40000]
    mov eax, [PT + 0x40 * 4]
    and eax, A_BIT | D_BIT
    cmp eax, A_BIT
    CHECK "a read sets A, not D"
    mov dword [0x40000], 7
    mov eax, [PT + 0x40 * 4]
    and eax, A_BIT | D_BIT
    cmp eax, A_BIT | D_BIT
    CHECK "a write sets D"
    test dword [PD], A_BIT
    setnz al
    cmp al, 1
    CHECK "the directory entry used gets A"

    ; INVLPG makes a changed mapping visible.
    mov dword [PT + 0x33 * 4], 0x35000 | P | RW | US
    invlpg [0x33000]
    mov eax, [0x33000]
    cmp eax, 0x35353535
    CHECK "INVLPG then the new mapping"

    ; A CR3 reload flushes too.
    mov dword [PT + 0x33 * 4], 0x34000 | P | RW | US
    mov eax, cr3
    mov cr3, eax
    mov eax, [0x33000]
    cmp eax, 0x34343434
    CHECK "CR3 reload then the new mapping"

    ; 4 MiB pages: linear 4 MiB + x is physical 8 MiB + x.
    mov dword [0x400010], 0xCAFEBABE
    mov eax, [0x800010]
    cmp eax, 0xCAFEBABE
    CHECK "a 4 MiB page maps to its frame"

    ; Turn paging off again.
    mov eax, cr0
    and eax, ~(1 << 31)
    mov cr0, eax
    jmp finish

r3_read_super:
    mov ax, SEL_DATA3
    mov ds, ax
    mov eax, [0x31000]
    int 0x30
r3_write_ro:
    mov ax, SEL_DATA3
    mov ds, ax
    mov dword [0x30000], 5
    int 0x30
r3_write_ok:
    mov ax, SEL_DATA3
    mov ds, ax
    mov dword [0x50000], 5
    int 0x30

s_hello: db "pm_paging: protected mode entered", 10, 0

%include "rom_end.inc"
